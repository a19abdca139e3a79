//! OptionalGetElement: the content of a non-empty optional (an error for an empty one); a
//! tensor or sequence input (opset 18) is returned as is.

use super::common::{value_in, values_only};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Result, Tensor, Value, ValueInfo, ValueKind};
use std::sync::Arc;

#[derive(Debug)]
pub struct OptionalGetElement;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(OptionalGetElement))
}

impl Op for OptionalGetElement {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("OptionalGetElement"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let v = match value_in(inputs, 0, "OptionalGetElement")? {
            Value::Optional(None) => bail!("OptionalGetElement: the optional is empty"),
            Value::Optional(Some(v)) => v.as_ref().clone(),
            v => v.clone(),
        };
        Ok(vec![v])
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let Some(info) = inputs.first().and_then(|i| i.info) else { return Ok(vec![]) };
        let mut vi = ValueInfo::new("", info.dtype, None);
        vi.kind = match info.kind {
            ValueKind::Sequence | ValueKind::OptionalSequence => ValueKind::Sequence,
            _ => ValueKind::Tensor,
        };
        if vi.kind == ValueKind::Tensor {
            vi.shape = info.shape.clone();
        }
        Ok(vec![vi])
    }
}
