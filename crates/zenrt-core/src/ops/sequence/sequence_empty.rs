//! SequenceEmpty: an empty sequence (the `dtype` attribute, default float, only types it
//! statically: a sequence value does not carry its element type).

use super::common::{seq, values_only};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Error, Result, Tensor, Value, ValueInfo, ValueKind};
use std::sync::Arc;

#[derive(Debug)]
pub struct SequenceEmpty {
    dtype: DType,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let code = cx.int("dtype", 1)?;
    let dtype = i32::try_from(code)
        .ok()
        .and_then(DType::from_onnx_code)
        .ok_or_else(|| Error::Unsupported(format!("SequenceEmpty: dtype {code}")))?;
    Ok(Arc::new(SequenceEmpty { dtype }))
}

impl Op for SequenceEmpty {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("SequenceEmpty"))
    }
    fn run_values(&self, _: &dyn ExecCtx, _: &[Option<&Value>]) -> Result<Vec<Value>> {
        Ok(vec![seq(vec![])])
    }
    fn infer(&self, _: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let mut vi = ValueInfo::new("", Some(self.dtype), None);
        vi.kind = ValueKind::Sequence;
        Ok(vec![vi])
    }
}
