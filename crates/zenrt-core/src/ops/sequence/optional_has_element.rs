//! OptionalHasElement: a bool scalar, false for an empty optional or an absent input (opset
//! 18), true otherwise (a tensor or sequence input counts as present).

use super::common::values_only;
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Result, Tensor, Value, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct OptionalHasElement;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(OptionalHasElement))
}

impl Op for OptionalHasElement {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("OptionalHasElement"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let has = match inputs.first().copied().flatten() {
            None | Some(Value::Optional(None)) => false,
            Some(_) => true,
        };
        Ok(vec![Value::from(Tensor::scalar(has))])
    }
    fn infer(&self, _: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(vec![ValueInfo::new("", Some(DType::Bool), Some(vec![]))])
    }
}
