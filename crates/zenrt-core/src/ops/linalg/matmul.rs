//! MatMul: numpy `matmul` semantics (1-D promotion, batch broadcasting).
//! f32/f64 run through `matrixmultiply`; f16/bf16 compute in f32; integers are exact (wrapping).

use super::common::batched_matmul;
use crate::ops::util::broadcast_dims;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Dim, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct MatMul;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(MatMul))
}

/// Numpy matmul of two tensors of the same dtype.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dtype() != b.dtype() {
        return Err(Error::Invalid(format!("MatMul: input dtypes differ: {} and {}", a.dtype(), b.dtype())));
    }
    match a.dtype() {
        DType::F32 => {
            let (s, o) = batched_matmul(a.as_slice::<f32>()?, a.shape(), b.as_slice::<f32>()?, b.shape())?;
            Tensor::from_vec(s, o)
        }
        DType::F64 => {
            let (s, o) = batched_matmul(a.as_slice::<f64>()?, a.shape(), b.as_slice::<f64>()?, b.shape())?;
            Tensor::from_vec(s, o)
        }
        DType::F16 | DType::BF16 => {
            let (af, bf) = (a.cast(DType::F32)?, b.cast(DType::F32)?);
            let (s, o) = batched_matmul(af.as_slice::<f32>()?, a.shape(), bf.as_slice::<f32>()?, b.shape())?;
            Tensor::from_vec(s, o)?.cast(a.dtype())
        }
        DType::Bool => Err(Error::UnsupportedDType { op: "MatMul".into(), dtype: DType::Bool }),
        dt => {
            let (ai, bi) = (a.to_i64_vec(), b.to_i64_vec());
            let (s, o) = batched_matmul(&ai, a.shape(), &bi, b.shape())?;
            crate::dispatch_all!(dt, T => Tensor::from_vec(s, o.iter().map(|&x| T::from_i64(x)).collect::<Vec<T>>()))
        }
    }
}

impl Op for MatMul {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "MatMul")?;
        let b = input(inputs, 1, "MatMul")?;
        Ok(vec![matmul(a, b)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let (Some(a), Some(b)) = (inputs.first().and_then(|i| i.info), inputs.get(1).and_then(|i| i.info)) else {
            return Ok(vec![]);
        };
        Ok(vec![ValueInfo::new("", a.dtype.or(b.dtype), matmul_shape(a.shape.as_deref(), b.shape.as_deref()))])
    }
}

/// Symbolic numpy-matmul output shape (None when a rank is unknown or a rank is 0).
pub fn matmul_shape(a: Option<&[Dim]>, b: Option<&[Dim]>) -> Option<Vec<Dim>> {
    let (a, b) = (a?, b?);
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let abatch = if a.len() > 2 { &a[..a.len() - 2] } else { &[][..] };
    let bbatch = if b.len() > 2 { &b[..b.len() - 2] } else { &[][..] };
    let mut out = broadcast_dims(abatch, bbatch);
    if a.len() > 1 {
        out.push(a[a.len() - 2].clone());
    }
    if b.len() > 1 {
        out.push(b[b.len() - 1].clone());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_wraps_and_f16() {
        let a = Tensor::from_vec(vec![1, 2], vec![100i8, 100]).unwrap();
        let b = Tensor::from_vec(vec![2, 1], vec![1i8, 1]).unwrap();
        assert_eq!(matmul(&a, &b).unwrap().to_i64_vec(), vec![-56]);
        let a = Tensor::from_vec(vec![2], vec![half::f16::from_f32(1.5), half::f16::from_f32(2.0)]).unwrap();
        let r = matmul(&a, &a).unwrap();
        assert_eq!(r.shape(), &[] as &[usize]);
        assert_eq!(r.to_f64_vec(), vec![6.25]);
    }
}
