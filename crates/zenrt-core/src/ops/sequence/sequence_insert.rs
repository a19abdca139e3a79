//! SequenceInsert: the sequence with a tensor inserted at `position` (default: at the end;
//! negative positions count from the back, `-len..=len` is valid).

use super::common::{opt_tensor_in, position, seq, seq_in, tensor_in, values_only};
use crate::ops::{BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, Value, ValueInfo, ValueKind};
use std::sync::Arc;

#[derive(Debug)]
pub struct SequenceInsert;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SequenceInsert))
}

impl Op for SequenceInsert {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("SequenceInsert"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        const OP: &str = "SequenceInsert";
        let s = seq_in(inputs, 0, OP)?;
        let t = tensor_in(inputs, 1, OP)?;
        if let Some(first) = s.first() {
            ensure!(
                t.dtype() == first.dtype(),
                "{OP}: inserting a {} tensor into a sequence of {}",
                t.dtype(),
                first.dtype()
            );
        }
        let at = match opt_tensor_in(inputs, 2, OP)? {
            Some(p) => position(p, s.len(), true, OP)?,
            None => s.len(),
        };
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(&s[..at]);
        v.push(t.clone());
        v.extend_from_slice(&s[at..]);
        Ok(vec![seq(v)])
    }
    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dtype = inputs.iter().take(2).find_map(|i| i.info.and_then(|v| v.dtype));
        let mut vi = ValueInfo::new("", dtype, None);
        vi.kind = ValueKind::Sequence;
        Ok(vec![vi])
    }
}
