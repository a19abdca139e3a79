//! And, Or, Xor: numpy-broadcast logic on bool tensors.

use super::binary::legacy_align;
use super::common::infer_broadcast;
use crate::ops::util::binary_map;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logic {
    And,
    Or,
    Xor,
}

impl Logic {
    fn name(self) -> &'static str {
        match self {
            Logic::And => "And",
            Logic::Or => "Or",
            Logic::Xor => "Xor",
        }
    }
}

#[derive(Debug)]
pub struct Logical {
    pub kind: Logic,
    /// Opset < 7 `broadcast`/`axis` attributes (legacy limited broadcasting).
    pub legacy_axis: Option<i64>,
}

pub fn build(cx: &BuildCtx, kind: Logic) -> Result<Arc<dyn Op>> {
    let legacy_axis = if cx.opset < 7 && cx.int("broadcast", 0)? == 1 { cx.int_opt("axis")? } else { None };
    Ok(Arc::new(Logical { kind, legacy_axis }))
}

impl Op for Logical {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let name = self.kind.name();
        let a = input(inputs, 0, name)?;
        let b = legacy_align(a, input(inputs, 1, name)?, self.legacy_axis)?;
        for t in [a, &b] {
            if t.dtype() != DType::Bool {
                return Err(Error::UnsupportedDType { op: name.into(), dtype: t.dtype() });
            }
        }
        let out = match self.kind {
            Logic::And => binary_map::<bool, bool>(a, &b, |x, y| x && y),
            Logic::Or => binary_map::<bool, bool>(a, &b, |x, y| x || y),
            Logic::Xor => binary_map::<bool, bool>(a, &b, |x, y| x != y),
        }?;
        Ok(vec![out])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        if self.legacy_axis.is_some() {
            return Ok(vec![ValueInfo::new("", Some(DType::Bool), None)]);
        }
        Ok(infer_broadcast(inputs, Some(DType::Bool)))
    }
}
