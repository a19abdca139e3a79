//! SequenceLength: the number of tensors in a sequence, as an int64 scalar.

use super::common::{seq_in, values_only};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Result, Tensor, Value, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct SequenceLength;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SequenceLength))
}

impl Op for SequenceLength {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("SequenceLength"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let s = seq_in(inputs, 0, "SequenceLength")?;
        Ok(vec![Value::from(Tensor::scalar(s.len() as i64))])
    }
    fn infer(&self, _: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(vec![ValueInfo::new("", Some(DType::I64), Some(vec![]))])
    }
}
