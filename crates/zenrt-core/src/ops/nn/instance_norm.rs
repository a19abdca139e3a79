//! InstanceNormalization: per (n, c) mean/variance over the spatial axes, then per-channel
//! scale and bias.

use super::common::{float_vec, from_f64_vec};
use crate::ops::util::same_as_input0;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct InstanceNorm {
    pub epsilon: f64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(InstanceNorm { epsilon: cx.float("epsilon", 1e-5)? as f64 }))
}

/// Normalizes each of the `xv.len() / size` consecutive blocks of `size` values in place.
pub fn normalize_blocks(xv: &mut [f64], size: usize, epsilon: f64) {
    if size == 0 {
        return;
    }
    for blk in xv.chunks_mut(size) {
        let mean = blk.iter().sum::<f64>() / size as f64;
        let var = blk.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / size as f64;
        let inv = 1.0 / (var + epsilon).sqrt();
        blk.iter_mut().for_each(|v| *v = (*v - mean) * inv);
    }
}

impl Op for InstanceNorm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "InstanceNormalization")?;
        ensure!(x.rank() >= 2, "InstanceNormalization: input must be [N, C, ...], got {:?}", x.shape());
        let c = x.shape()[1];
        let plane: usize = x.shape()[2..].iter().product();
        let scale = float_vec(input(inputs, 1, "InstanceNormalization")?, "scale")?;
        let bias = float_vec(input(inputs, 2, "InstanceNormalization")?, "B")?;
        ensure!(scale.len() == c && bias.len() == c, "InstanceNormalization: scale/B must have {c} values");
        let mut xv = float_vec(x, "InstanceNormalization")?;
        normalize_blocks(&mut xv, plane, self.epsilon);
        if plane > 0 {
            for (i, blk) in xv.chunks_mut(plane).enumerate() {
                let ch = i % c;
                blk.iter_mut().for_each(|v| *v = *v * scale[ch] + bias[ch]);
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), x.shape().to_vec(), xv)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
