//! MatMul: numpy `matmul` semantics (1-D promotion, batch broadcasting).
//! f32 runs on the fast GEMM (`A[..., M, K] · B[K, N]` as one GEMM over all rows, batched
//! products in parallel; a constant B is packed at plan time); f64 through `matrixmultiply`;
//! f16/bf16 compute in f32; integers are exact (wrapping).

use super::common::batched_matmul;
use crate::ops::fused::Activation;
use crate::ops::gemm::{kernels, sgemm, Bias, Epilogue, Kernel, Operand, PackedMat, Strided};
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

/// A constant 2-D f32 right operand packed at plan time.
#[derive(Debug)]
pub struct PackedRhs {
    pub shape: Vec<usize>,
    kern: &'static Kernel,
    mat: PackedMat,
}

impl PackedRhs {
    /// Packs `b` when it is a 2-D f32 tensor.
    pub fn new(b: Option<&Tensor>) -> Result<Option<PackedRhs>> {
        let Some(b) = b.filter(|b| b.dtype() == DType::F32 && b.rank() == 2) else { return Ok(None) };
        let (k, n) = (b.shape()[0], b.shape()[1]);
        let kern = kernels::best();
        let mat = PackedMat::new(&Strided::new(b.as_slice::<f32>()?, k, n, n, 1)?, kern, false)?;
        Ok(Some(PackedRhs { shape: b.shape().to_vec(), kern, mat }))
    }
}

/// f32 `act(A·B + bias)` when B is 2-D and A has rank >= 2 (all of A's rows in one GEMM, the
/// bias and activation in its epilogue); `None` when the shapes need the general path.
pub fn matmul_f32_fused(
    a: &Tensor,
    b: &Tensor,
    packed: Option<&PackedRhs>,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
    act: Activation,
) -> Result<Option<Tensor>> {
    if a.dtype() != DType::F32 || b.dtype() != DType::F32 || a.rank() < 2 || b.rank() != 2 {
        return Ok(None);
    }
    if residual.is_some_and(|z| z.dtype() != DType::F32) {
        return Ok(None);
    }
    if bias.is_some_and(|t| t.dtype() != DType::F32 || t.len() != b.shape()[1]) {
        return Ok(None);
    }
    let (k, n) = (b.shape()[0], b.shape()[1]);
    let ka = a.shape()[a.rank() - 1];
    if ka != k {
        return Err(Error::Shape(format!(
            "MatMul: inner dimensions differ for shapes {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let rows: usize = a.shape()[..a.rank() - 1].iter().product();
    let mut out_shape = a.shape()[..a.rank() - 1].to_vec();
    out_shape.push(n);
    let total = crate::checked_numel(&out_shape, DType::F32, "MatMul output")?;
    let sa = Strided::new(a.as_slice::<f32>()?, k, rows, 1, k)?;
    let sb;
    let (kern, bop) = match packed.filter(|p| p.shape == b.shape()) {
        Some(p) => (p.kern, Operand::Packed(&p.mat)),
        None => {
            sb = Strided::new(b.as_slice::<f32>()?, k, n, n, 1)?;
            (kernels::best(), Operand::Src(&sb))
        }
    };
    let bias = match bias {
        Some(t) => Bias::PerCol(t.as_slice::<f32>()?),
        None => Bias::None,
    };
    // The residual is added in the GEMM's epilogue when shaped like the output (else the caller
    // adds it with broadcasting).
    let residual = match residual {
        Some(z) if z.shape() != out_shape.as_slice() => return Ok(None),
        Some(z) => Some(z.as_slice::<f32>()?),
        None => None,
    };
    let mut o = crate::memory::alloc_for_overwrite::<f32>(total);
    sgemm(kern, 1.0, Operand::Src(&sa), bop, 0.0, &mut o, n, 1, &Epilogue { bias, act, residual })?;
    Ok(Some(Tensor::from_vec(out_shape, o)?))
}

/// MatMul or FusedMatMul with a constant B packed at plan time.
#[derive(Debug)]
pub struct PackedMatMul {
    pub act: Activation,
    pub b: PackedRhs,
    /// FusedMatMul (bias input, activation) rather than plain MatMul.
    pub fused: bool,
}

impl PackedMatMul {
    /// The packed replacement of a (Fused)MatMul whose B (input 1) is a constant 2-D f32 tensor.
    pub fn prepare(act: Activation, fused: bool, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        let Some(b) = PackedRhs::new(consts.get(1).copied().flatten())? else { return Ok(None) };
        Ok(Some(Arc::new(PackedMatMul { act, b, fused })))
    }
}

impl Op for PackedMatMul {
    fn run(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "MatMul")?;
        let b = input(inputs, 1, "MatMul")?;
        let (bias, z) = if self.fused {
            (crate::ops::opt_input(inputs, 2), crate::ops::opt_input(inputs, 3))
        } else {
            (None, None)
        };
        if let Some(y) = matmul_f32_fused(a, b, Some(&self.b), bias, z, self.act)? {
            return Ok(vec![y]);
        }
        if self.fused {
            crate::ops::fused::fused_matmul::FusedMatMul { act: self.act }.run(ctx, inputs)
        } else {
            MatMul.run(ctx, inputs)
        }
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        MatMul.infer(&inputs[..inputs.len().min(2)])
    }
}

impl Op for MatMul {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "MatMul")?;
        let b = input(inputs, 1, "MatMul")?;
        if let Some(y) = matmul_f32_fused(a, b, None, None, None, Activation::None)? {
            return Ok(vec![y]);
        }
        Ok(vec![matmul(a, b)?])
    }

    fn prepare(&self, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        PackedMatMul::prepare(Activation::None, false, consts)
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
