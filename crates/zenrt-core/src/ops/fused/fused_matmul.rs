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

/// `y + z` by the Add operator (numpy broadcasting; the sum must keep `y`'s shape).
fn add_residual(ctx: &dyn ExecCtx, y: Tensor, z: &Tensor) -> Result<Tensor> {
    use crate::ops::elementwise::binary::{Arith, Binary};
    let sum = Binary { kind: Arith::Add, legacy_axis: None }.run(ctx, &[Some(&y), Some(z)])?.remove(0);
    ensure!(
        sum.shape() == y.shape(),
        "FusedMatMul: residual of shape {:?} does not broadcast to the output's {:?}",
        z.shape(),
        y.shape()
    );
    Ok(sum)
}

impl Op for FusedMatMul {
    fn run(&self, ctx: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
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
            y = add_residual(ctx, y, z)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tensor::common::NoCtx;

    /// The residual where the GEMM epilogue cannot take it (f64; a residual that broadcasts):
    /// added after the product, against the sums computed here; one that would change the
    /// output's shape is an error.
    #[test]
    fn residual_outside_the_epilogue() {
        let (m, k, n) = (3, 4, 5);
        let a: Vec<f64> = (0..m * k).map(|i| i as f64 * 0.5 - 2.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| 1.0 - i as f64 * 0.25).collect();
        let bias: Vec<f64> = (0..n).map(|j| j as f64).collect();
        let ta = Tensor::from_vec(vec![m, k], a.clone()).unwrap();
        let tb = Tensor::from_vec(vec![k, n], b.clone()).unwrap();
        let tbias = Tensor::from_vec(vec![n], bias.clone()).unwrap();
        let op = FusedMatMul { act: Activation::Relu };
        for zshape in [vec![m, n], vec![n], vec![m, 1]] {
            let len: usize = zshape.iter().product();
            let z: Vec<f64> = (0..len).map(|i| i as f64 * 3.0 - 7.0).collect();
            let tz = Tensor::from_vec(zshape.clone(), z.clone()).unwrap();
            let y = op.run(&NoCtx, &[Some(&ta), Some(&tb), Some(&tbias), Some(&tz)]).unwrap().remove(0);
            assert_eq!(y.shape(), &[m, n]);
            let got = y.to_f64_vec();
            for i in 0..m {
                for j in 0..n {
                    let zi = match zshape.as_slice() {
                        [_, 1] => i,
                        [_] => j,
                        _ => i * n + j,
                    };
                    let s: f64 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f64>() + bias[j] + z[zi];
                    assert!((got[i * n + j] - s.max(0.0)).abs() < 1e-12, "{zshape:?} ({i}, {j})");
                }
            }
        }
        let wide = Tensor::from_vec(vec![2, m, n], vec![0f64; 2 * m * n]).unwrap();
        assert!(op.run(&NoCtx, &[Some(&ta), Some(&tb), None, Some(&wide)]).is_err());
    }
}
