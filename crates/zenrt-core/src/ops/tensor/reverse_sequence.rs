//! ReverseSequence: for each batch entry `b`, reverses the first `sequence_lens[b]` elements
//! along `time_axis` (default 0); `batch_axis` defaults to 1.

use super::common::{next_index, offset, take};
use crate::ops::util::{ints_of, same_as_input0};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct ReverseSequence {
    pub batch_axis: i64,
    pub time_axis: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ReverseSequence { batch_axis: cx.int("batch_axis", 1)?, time_axis: cx.int("time_axis", 0)? }))
}

impl Op for ReverseSequence {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "ReverseSequence")?;
        let lens = ints_of(input(inputs, 1, "ReverseSequence")?)?;
        if x.rank() < 2 {
            bail!("ReverseSequence: input must have rank >= 2");
        }
        let (ba, ta) = (self.batch_axis, self.time_axis);
        if !((ba == 0 && ta == 1) || (ba == 1 && ta == 0)) {
            bail!("ReverseSequence: batch_axis/time_axis must be 0/1 or 1/0, got {ba}/{ta}");
        }
        let (ba, ta) = (ba as usize, ta as usize);
        let shape = x.shape();
        if lens.len() != shape[ba] {
            bail!("ReverseSequence: {} sequence lengths for batch size {}", lens.len(), shape[ba]);
        }
        if let Some(&bad) = lens.iter().find(|&&l| l < 0 || l as usize > shape[ta]) {
            bail!("ReverseSequence: sequence length {bad} out of range for time size {}", shape[ta]);
        }
        let strides = x.strides();
        let mut idx = Vec::with_capacity(x.len());
        let mut mi = vec![0usize; x.rank()];
        for _ in 0..x.len() {
            let l = lens[mi[ba]] as usize;
            let mut m = mi.clone();
            if mi[ta] < l {
                m[ta] = l - 1 - mi[ta];
            }
            idx.push(offset(&m, &strides));
            next_index(&mut mi, shape);
        }
        Ok(vec![take(x, &idx, shape.to_vec(), None)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
