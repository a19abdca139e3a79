//! `com.zenrt.FusedMatMul`: `act(MatMul(A, B) + bias)`, numpy matmul semantics; the optional
//! bias (input 2) is a 1-D tensor of the output's last dimension.

use super::Activation;
use crate::ops::linalg::matmul::{matmul, matmul_f32_fused, MatMul, PackedMatMul};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct FusedMatMul {
    pub act: Activation,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(FusedMatMul { act: Activation::parse(cx)? }))
}

/// Adds a bias of the last dimension's size to every row of `y`.
pub fn add_bias(y: Tensor, bias: &Tensor) -> Result<Tensor> {
    let n = y.shape().last().copied().unwrap_or(1);
    ensure!(bias.dtype() == y.dtype(), "FusedMatMul: bias dtype {} differs from {}", bias.dtype(), y.dtype());
    ensure!(bias.len() == n, "FusedMatMul: bias has {} elements, the output's last dimension is {n}", bias.len());
    match y.dtype() {
        DType::F32 => {
            let mut y = y;
            let b = bias.as_slice::<f32>()?;
            if n > 0 {
                y.as_mut_slice::<f32>()?
                    .chunks_exact_mut(n)
                    .for_each(|r| r.iter_mut().zip(b).for_each(|(v, b)| *v += b));
            }
            Ok(y)
        }
        DType::F64 | DType::F16 | DType::BF16 => {
            let dt = y.dtype();
            let b = bias.to_f64_vec();
            let mut v = y.to_f64_vec();
            if n > 0 {
                v.chunks_exact_mut(n).for_each(|r| r.iter_mut().zip(&b).for_each(|(v, b)| *v += b));
            }
            Tensor::from_vec(y.shape().to_vec(), v)?.cast(dt)
        }
        dt => Err(Error::UnsupportedDType { op: "FusedMatMul".into(), dtype: dt }),
    }
}

impl Op for FusedMatMul {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0, "FusedMatMul")?, input(inputs, 1, "FusedMatMul")?);
        // f32 with a 2-D B: bias and activation in the GEMM's epilogue.
        if let Some(y) = matmul_f32_fused(a, b, None, opt_input(inputs, 2), self.act)? {
            return Ok(vec![y]);
        }
        let mut y = matmul(a, b)?;
        if let Some(b) = opt_input(inputs, 2) {
            y = add_bias(y, b)?;
        }
        Ok(vec![self.act.apply(y)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        MatMul.infer(&inputs[..inputs.len().min(2)])
    }

    fn prepare(&self, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        PackedMatMul::prepare(self.act, true, consts)
    }
}
