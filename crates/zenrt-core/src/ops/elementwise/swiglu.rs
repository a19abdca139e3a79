//! SwiGLU (opset 28): `Y = A * sigmoid(alpha * A) * B`, with A and B of identical shape.

use super::activation::sigmoid;
use super::common::{infer_unary, named, same_dtypes};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_float, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct SwiGlu {
    pub alpha: f64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SwiGlu { alpha: cx.float("alpha", 1.0)? as f64 }))
}

fn swiglu<T: Elem>(a: &Tensor, b: &Tensor, alpha: f64) -> Result<Tensor> {
    let out: Vec<T> = a
        .as_slice::<T>()?
        .iter()
        .zip(b.as_slice::<T>()?)
        .map(|(&x, &y)| {
            let x = x.to_f64();
            T::from_f64(x * sigmoid(alpha * x) * y.to_f64())
        })
        .collect();
    Tensor::from_vec(a.shape().to_vec(), out)
}

impl Op for SwiGlu {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "SwiGLU")?;
        let b = input(inputs, 1, "SwiGLU")?;
        let dt = same_dtypes("SwiGLU", &[a, b])?;
        if a.shape() != b.shape() {
            return Err(crate::Error::Shape(format!(
                "SwiGLU: A {:?} and B {:?} must have the same shape",
                a.shape(),
                b.shape()
            )));
        }
        let out = dispatch_float!(dt, T => swiglu::<T>(a, b, self.alpha));
        Ok(vec![named("SwiGLU", out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_unary(inputs, None))
    }
}
