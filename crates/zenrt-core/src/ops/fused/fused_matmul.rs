//! `com.zenrt.FusedMatMul`: `act(MatMul(A, B) + bias + Z)`, numpy matmul semantics; the optional
//! bias (input 2) is a 1-D tensor of the output's last dimension, the optional residual `Z`
//! (input 3) broadcasts to the output (numpy rules; added in the GEMM's epilogue when shaped like
//! it) without changing its shape.

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

/// `y + z`, `z` broadcast to `y`'s shape (numpy rules; the sum must keep `y`'s shape).
fn add_residual(y: Tensor, z: &Tensor) -> Result<Tensor> {
    ensure!(z.dtype() == y.dtype(), "FusedMatMul: residual dtype {} differs from {}", z.dtype(), y.dtype());
    let shape = crate::ops::util::broadcast_all(&[y.shape(), z.shape()])?;
    ensure!(
        shape == y.shape(),
        "FusedMatMul: residual of shape {:?} does not broadcast to the output's {:?}",
        z.shape(),
        y.shape()
    );
    let dt = y.dtype();
    let idx = crate::ops::util::broadcast_index_map(z.shape(), &shape);
    let zv = z.to_f64_vec();
    let v: Vec<f64> = y.to_f64_vec().into_iter().zip(idx).map(|(a, i)| a + zv[i]).collect();
    Tensor::from_vec(shape, v)?.cast(dt)
}

impl Op for FusedMatMul {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (input(inputs, 0, "FusedMatMul")?, input(inputs, 1, "FusedMatMul")?);
        // f32 with a 2-D B: bias, residual and activation in the GEMM's epilogue.
        let z = opt_input(inputs, 3);
        if let Some(y) = matmul_f32_fused(a, b, None, opt_input(inputs, 2), z, self.act)? {
            return Ok(vec![y]);
        }
        let mut y = matmul(a, b)?;
        if let Some(b) = opt_input(inputs, 2) {
            y = add_bias(y, b)?;
        }
        if let Some(z) = z {
            y = add_residual(y, z)?;
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
