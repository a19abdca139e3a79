//! The concrete, owned [`Tensor`] type: a shape and a typed, contiguous, row-major buffer.

use crate::{dispatch_all, DType, Elem, Error, Result};
use half::{bf16, f16};

/// Largest single tensor zenrt will allocate (16 GiB). Larger claims are refused with
/// [`Error::TooLarge`] instead of attempting the allocation.
pub const MAX_TENSOR_BYTES: u128 = 16 << 30;

/// Typed storage of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
}

impl TensorData {
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
            TensorData::F16(_) => DType::F16,
            TensorData::BF16(_) => DType::BF16,
            TensorData::I8(_) => DType::I8,
            TensorData::I16(_) => DType::I16,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::U8(_) => DType::U8,
            TensorData::U16(_) => DType::U16,
            TensorData::U32(_) => DType::U32,
            TensorData::U64(_) => DType::U64,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        dispatch_all!(self.dtype(), T => T::slice(self).map(|s| s.len()).unwrap_or(0))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dense row-major tensor. Cheap to move; clone copies the data.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

/// Number of elements of `shape`, with overflow and size checks against [`MAX_TENSOR_BYTES`].
pub fn checked_numel(shape: &[usize], dtype: DType, what: &str) -> Result<usize> {
    let mut n: u128 = 1;
    for &d in shape {
        n = n.saturating_mul(d as u128);
    }
    let bytes = n.saturating_mul(dtype.size() as u128);
    if bytes > MAX_TENSOR_BYTES {
        return Err(Error::TooLarge {
            what: format!("{what} of shape {shape:?} ({dtype})"),
            bytes,
            limit: MAX_TENSOR_BYTES,
        });
    }
    Ok(n as usize)
}

/// Row-major strides (in elements) of `shape`.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

impl Tensor {
    /// Builds a tensor from a shape and data of matching length.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor> {
        let n = checked_numel(&shape, data.dtype(), "tensor")?;
        if n != data.len() {
            return Err(Error::Shape(format!("shape {:?} needs {} elements but data has {}", shape, n, data.len())));
        }
        Ok(Tensor { shape, data })
    }

    /// Builds a tensor from a typed vector.
    pub fn from_vec<T: Elem>(shape: Vec<usize>, data: Vec<T>) -> Result<Tensor> {
        Tensor::new(shape, T::wrap(data))
    }

    /// A rank-0 tensor.
    pub fn scalar<T: Elem>(v: T) -> Tensor {
        Tensor { shape: vec![], data: T::wrap(vec![v]) }
    }

    /// A tensor filled with zeros (false for bool).
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Tensor> {
        let n = checked_numel(&shape, dtype, "tensor")?;
        Ok(dispatch_all!(dtype, T => Tensor { shape, data: T::wrap(vec![T::zero(); n]) }))
    }

    /// A tensor filled with `v` converted to `dtype`.
    pub fn full(dtype: DType, shape: Vec<usize>, v: f64) -> Result<Tensor> {
        let n = checked_numel(&shape, dtype, "tensor")?;
        Ok(dispatch_all!(dtype, T => Tensor { shape, data: T::wrap(vec![T::from_f64(v); n]) }))
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn data(&self) -> &TensorData {
        &self.data
    }

    pub fn into_data(self) -> TensorData {
        self.data
    }

    pub fn strides(&self) -> Vec<usize> {
        strides_of(&self.shape)
    }

    /// Bytes held by the data.
    pub fn nbytes(&self) -> usize {
        self.len() * self.dtype().size()
    }

    /// The data as a typed slice; errors if `T` is not the tensor's dtype.
    pub fn as_slice<T: Elem>(&self) -> Result<&[T]> {
        T::slice(&self.data)
            .ok_or_else(|| Error::Invalid(format!("expected a {} tensor, got {}", T::DTYPE, self.dtype())))
    }

    pub fn as_mut_slice<T: Elem>(&mut self) -> Result<&mut [T]> {
        let dt = self.dtype();
        T::slice_mut(&mut self.data)
            .ok_or_else(|| Error::Invalid(format!("expected a {} tensor, got {}", T::DTYPE, dt)))
    }

    pub fn into_vec<T: Elem>(self) -> Result<Vec<T>> {
        let dt = self.dtype();
        T::unwrap(self.data).ok_or_else(|| Error::Invalid(format!("expected a {} tensor, got {}", T::DTYPE, dt)))
    }

    /// Same data, new shape (element count must match).
    pub fn reshape(self, shape: Vec<usize>) -> Result<Tensor> {
        Tensor::new(shape, self.data)
    }

    /// Converts every element to another dtype (float→int truncates, like a C cast).
    pub fn cast(&self, to: DType) -> Result<Tensor> {
        if to == self.dtype() {
            return Ok(self.clone());
        }
        let src = self.dtype();
        let data = dispatch_all!(src, S => {
            let s = S::slice(&self.data).expect("dtype matches");
            dispatch_all!(to, D => cast_slice::<S, D>(s))
        });
        Ok(Tensor { shape: self.shape.clone(), data })
    }

    /// All elements as f64 (handy in tests and for small index tensors).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        dispatch_all!(self.dtype(), T => T::slice(&self.data).expect("dtype").iter().map(|x| x.to_f64()).collect())
    }

    /// All elements as i64 (exact for integer tensors; for index/shape inputs).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        dispatch_all!(self.dtype(), T => T::slice(&self.data).expect("dtype").iter().map(|x| x.to_i64()).collect())
    }
}

fn cast_slice<S: Elem, D: Elem>(s: &[S]) -> TensorData {
    // Integer to integer (and bool) conversions go through i64 to stay exact;
    // everything involving a float goes through f64.
    let v: Vec<D> = if (S::DTYPE.is_float()) || D::DTYPE.is_float() {
        s.iter().map(|x| D::from_f64(x.to_f64())).collect()
    } else if D::DTYPE == DType::Bool {
        s.iter()
            .map(|x| D::from_i64((x.to_i64() != 0 || (S::DTYPE == DType::U64 && x.to_f64() != 0.0)) as i64))
            .collect()
    } else if S::DTYPE == DType::U64 {
        // u64 → i64 wraps like C; from_i64 then wraps to the target width.
        s.iter().map(|x| D::from_i64(x.to_i64())).collect()
    } else {
        s.iter().map(|x| D::from_i64(x.to_i64())).collect()
    };
    D::wrap(v)
}
