//! Optional: wraps its input (tensor or sequence) in an optional, or makes an empty optional
//! when the input is absent (the `type` attribute then only types it statically).

use super::common::values_only;
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{Attr, DType, Result, Tensor, Value, ValueInfo, ValueKind};
use std::sync::Arc;

#[derive(Debug)]
pub struct Optional {
    dtype: Option<DType>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let dtype = match cx.get("type") {
        Some(Attr::Type(t)) => *t,
        _ => None,
    };
    Ok(Arc::new(Optional { dtype }))
}

impl Op for Optional {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("Optional"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let v = match inputs.first().copied().flatten() {
            None => Value::Optional(None),
            // Already an optional: wrapping again would make an optional of an optional.
            Some(o @ Value::Optional(_)) => o.clone(),
            Some(v) => Value::Optional(Some(Box::new(v.clone()))),
        };
        Ok(vec![v])
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let info = inputs.first().and_then(|i| i.info);
        let dtype = info.and_then(|v| v.dtype).or(self.dtype);
        let mut vi = ValueInfo::new("", dtype, None);
        vi.kind = match info.map(|i| i.kind) {
            Some(ValueKind::Sequence | ValueKind::OptionalSequence) => ValueKind::OptionalSequence,
            _ => ValueKind::Optional,
        };
        Ok(vec![vi])
    }
}
