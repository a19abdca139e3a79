//! ConcatFromSequence: concatenates a sequence's tensors along `axis`, or stacks them along a
//! new axis `axis` when `new_axis` = 1 (then `axis` may be -rank-1..=rank).

use super::common::{concat, seq_in, values_only};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, ensure, Result, Tensor, Value, ValueInfo};
use std::sync::Arc;

const OP: &str = "ConcatFromSequence";

#[derive(Debug)]
pub struct ConcatFromSequence {
    axis: i64,
    new_axis: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(ConcatFromSequence { axis: cx.req_int("axis")?, new_axis: cx.int("new_axis", 0)? != 0 }))
}

impl Op for ConcatFromSequence {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only(OP))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let s = seq_in(inputs, 0, OP)?;
        let Some(first) = s.first() else { bail!("{OP}: the sequence is empty") };
        // With a new axis, each tensor gets a 1 inserted at `axis` and they are concatenated there.
        let rank = first.rank() as i64 + self.new_axis as i64;
        ensure!(rank > 0, "{OP}: cannot concatenate scalars without new_axis");
        ensure!(self.axis >= -rank && self.axis < rank, "{OP}: axis {} is out of range for rank {rank}", self.axis);
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis } as usize;
        let out = if self.new_axis {
            let mut expanded = Vec::with_capacity(s.len());
            for t in s.iter() {
                let mut shape = t.shape().to_vec();
                shape.insert(axis, 1);
                expanded.push(t.clone().reshape(shape)?);
            }
            concat(&expanded.iter().collect::<Vec<_>>(), axis, OP)?
        } else {
            concat(&s.iter().collect::<Vec<_>>(), axis, OP)?
        };
        Ok(vec![Value::from(out)])
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dtype = inputs.first().and_then(|i| i.info).and_then(|v| v.dtype);
        Ok(vec![ValueInfo::new("", dtype, None)])
    }
}
