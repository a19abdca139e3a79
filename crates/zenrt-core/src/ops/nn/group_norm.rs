//! GroupNormalization: mean/variance per instance per group of channels. Opset 18 applies
//! scale/bias per group; opset 21 applies them per channel.

use super::common::{float_vec, from_f64_vec};
use super::instance_norm::normalize_blocks;
use crate::ops::util::same_as_input0;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct GroupNorm {
    pub epsilon: f64,
    pub num_groups: usize,
    /// Opset >= 21: scale/bias have one value per channel (else per group).
    pub per_channel: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let g = cx.req_int("num_groups")?;
    if g < 1 {
        return Err(Error::Attr { attr: "num_groups".into(), msg: format!("must be >= 1, got {g}") });
    }
    Ok(Arc::new(GroupNorm {
        epsilon: cx.float("epsilon", 1e-5)? as f64,
        num_groups: g as usize,
        per_channel: cx.opset >= 21,
    }))
}

impl Op for GroupNorm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "GroupNormalization")?;
        ensure!(x.rank() >= 2, "GroupNormalization: input must be [N, C, ...], got {:?}", x.shape());
        let (c, g) = (x.shape()[1], self.num_groups);
        ensure!(c % g == 0, "GroupNormalization: {c} channels are not divisible by {g} groups");
        let plane: usize = x.shape()[2..].iter().product();
        let scale = float_vec(input(inputs, 1, "GroupNormalization")?, "scale")?;
        let bias = float_vec(input(inputs, 2, "GroupNormalization")?, "bias")?;
        let want = if self.per_channel { c } else { g };
        ensure!(scale.len() == want && bias.len() == want, "GroupNormalization: scale/bias must have {want} values");
        let mut xv = float_vec(x, "GroupNormalization")?;
        normalize_blocks(&mut xv, (c / g) * plane, self.epsilon);
        if plane > 0 {
            for (i, blk) in xv.chunks_mut(plane).enumerate() {
                let ch = i % c;
                let k = if self.per_channel { ch } else { ch / (c / g) };
                blk.iter_mut().for_each(|v| *v = *v * scale[k] + bias[k]);
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), x.shape().to_vec(), xv)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
