//! SequenceConstruct: a sequence of the input tensors (all of one element type).

use super::common::{seq, tensor_in, values_only};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, Value, ValueInfo, ValueKind};
use std::sync::Arc;

#[derive(Debug)]
pub struct SequenceConstruct;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SequenceConstruct))
}

impl Op for SequenceConstruct {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("SequenceConstruct"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let mut ts = Vec::with_capacity(inputs.len());
        for i in 0..inputs.len() {
            let t = tensor_in(inputs, i, "SequenceConstruct")?;
            if let Some(first) = ts.first() {
                let first: &Tensor = first;
                ensure!(
                    t.dtype() == first.dtype(),
                    "SequenceConstruct: input #{i} is {}, input #0 is {}",
                    t.dtype(),
                    first.dtype()
                );
            }
            ts.push(t.clone());
        }
        Ok(vec![seq(ts)])
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dtype = inputs.iter().find_map(|i| i.info.and_then(|v| v.dtype));
        let mut vi = ValueInfo::new("", dtype, None);
        vi.kind = ValueKind::Sequence;
        Ok(vec![vi])
    }
}
