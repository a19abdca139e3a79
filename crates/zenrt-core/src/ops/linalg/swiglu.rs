//! SwiGLU (opset 28): `Y = A · sigmoid(alpha · A) · B` for same-shape float inputs.

use super::common::{round_to, tensor_from_f64};
use crate::ops::util::same_as_input0;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct SwiGlu {
    pub alpha: f32,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SwiGlu { alpha: cx.float("alpha", 1.0)? }))
}

impl Op for SwiGlu {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = input(inputs, 0, "SwiGLU")?;
        let b = input(inputs, 1, "SwiGLU")?;
        let t = a.dtype();
        if !t.is_float() {
            return Err(Error::UnsupportedDType { op: "SwiGLU".into(), dtype: t });
        }
        if a.shape() != b.shape() || b.dtype() != t {
            return Err(Error::Shape(format!(
                "SwiGLU: A {:?} ({t}) and B {:?} ({}) must match",
                a.shape(),
                b.shape(),
                b.dtype()
            )));
        }
        let alpha = self.alpha as f64;
        let out: Vec<f64> = a
            .to_f64_vec()
            .iter()
            .zip(b.to_f64_vec())
            .map(|(&x, y)| {
                let sig = round_to(t, 1.0 / (1.0 + (-alpha * x).exp()));
                round_to(t, round_to(t, x * sig) * y)
            })
            .collect();
        Ok(vec![tensor_from_f64(t, a.shape().to_vec(), out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
