//! SequenceErase: the sequence without the tensor at `position` (default: the last one).

use super::common::{opt_tensor_in, position, seq, seq_in, values_only};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Result, Tensor, Value, ValueInfo, ValueKind};
use std::sync::Arc;

#[derive(Debug)]
pub struct SequenceErase;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SequenceErase))
}

impl Op for SequenceErase {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("SequenceErase"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        const OP: &str = "SequenceErase";
        let s = seq_in(inputs, 0, OP)?;
        let at = match opt_tensor_in(inputs, 1, OP)? {
            Some(p) => position(p, s.len(), false, OP)?,
            None if s.is_empty() => bail!("{OP}: cannot erase from an empty sequence"),
            None => s.len() - 1,
        };
        let mut v = s.to_vec();
        v.remove(at);
        Ok(vec![seq(v)])
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dtype = inputs.first().and_then(|i| i.info).and_then(|v| v.dtype);
        let mut vi = ValueInfo::new("", dtype, None);
        vi.kind = ValueKind::Sequence;
        Ok(vec![vi])
    }
}
