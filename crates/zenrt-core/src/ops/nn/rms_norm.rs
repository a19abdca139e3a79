//! RMSNormalization (opset 23): `x / sqrt(mean(x²) + epsilon) * scale` over the axes from `axis`.

use super::common::{float_vec, from_f64_vec};
use super::layer_norm::broadcast_param;
use crate::ops::util::{norm_axis, same_as_input0};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct RmsNorm {
    pub axis: i64,
    pub epsilon: f64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(RmsNorm { axis: cx.int("axis", -1)?, epsilon: cx.float("epsilon", 1e-5)? as f64 }))
}

impl Op for RmsNorm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "RMSNormalization")?;
        let axis = norm_axis(self.axis, x.rank())?;
        let inner = &x.shape()[axis..];
        let cols: usize = inner.iter().product();
        let scale = broadcast_param(input(inputs, 1, "RMSNormalization")?, inner, "scale")?;
        let xv = float_vec(x, "RMSNormalization")?;
        let mut y = vec![0.0; xv.len()];
        for (row, out) in xv.chunks(cols.max(1)).zip(y.chunks_mut(cols.max(1))) {
            let ms = row.iter().map(|v| v * v).sum::<f64>() / cols as f64;
            let inv = 1.0 / (ms + self.epsilon).sqrt();
            for (j, (o, &v)) in out.iter_mut().zip(row).enumerate() {
                *o = v * inv * scale[j];
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), x.shape().to_vec(), y)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
