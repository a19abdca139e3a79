//! SequenceAt: the tensor at `position` (negative counts from the back).

use super::common::{position, seq_in, tensor_in, values_only};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{Result, Tensor, Value, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct SequenceAt;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SequenceAt))
}

impl Op for SequenceAt {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("SequenceAt"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let s = seq_in(inputs, 0, "SequenceAt")?;
        let at = position(tensor_in(inputs, 1, "SequenceAt")?, s.len(), false, "SequenceAt")?;
        Ok(vec![Value::from(s[at].clone())])
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dtype = inputs.first().and_then(|i| i.info).and_then(|v| v.dtype);
        Ok(vec![ValueInfo::new("", dtype, None)])
    }
}
