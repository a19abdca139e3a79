//! BitwiseAnd, BitwiseOr, BitwiseXor (numpy broadcasting) and BitwiseNot, on integer tensors
//! (bool is accepted too and behaves as the logical operation).

use super::common::{infer_broadcast, infer_unary, named, same_dtypes, IntElem};
use crate::ops::util::{binary_map, unary_map};
use crate::ops::{input, ExecCtx, InferInput, Op};
use crate::{dispatch_int, DType, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bits {
    And,
    Or,
    Xor,
    Not,
}

impl Bits {
    fn name(self) -> &'static str {
        match self {
            Bits::And => "BitwiseAnd",
            Bits::Or => "BitwiseOr",
            Bits::Xor => "BitwiseXor",
            Bits::Not => "BitwiseNot",
        }
    }
}

#[derive(Debug)]
pub struct Bitwise {
    pub kind: Bits,
}

pub fn build(kind: Bits) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Bitwise { kind }))
}

fn run_int<T: IntElem>(kind: Bits, a: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    match (kind, b) {
        (Bits::Not, _) => unary_map::<T, T>(a, |x| x.not()),
        (Bits::And, Some(b)) => binary_map::<T, T>(a, b, |x, y| x.and(y)),
        (Bits::Or, Some(b)) => binary_map::<T, T>(a, b, |x, y| x.or(y)),
        (Bits::Xor, Some(b)) => binary_map::<T, T>(a, b, |x, y| x.xor(y)),
        (_, None) => crate::bail!("{}: required input #1 is missing", kind.name()),
    }
}

fn run_bool(kind: Bits, a: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    match (kind, b) {
        (Bits::Not, _) => unary_map::<bool, bool>(a, |x| !x),
        (Bits::And, Some(b)) => binary_map::<bool, bool>(a, b, |x, y| x & y),
        (Bits::Or, Some(b)) => binary_map::<bool, bool>(a, b, |x, y| x | y),
        (Bits::Xor, Some(b)) => binary_map::<bool, bool>(a, b, |x, y| x ^ y),
        (_, None) => crate::bail!("{}: required input #1 is missing", kind.name()),
    }
}

impl Op for Bitwise {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let name = self.kind.name();
        let a = input(inputs, 0, name)?;
        let b = if self.kind == Bits::Not { None } else { Some(input(inputs, 1, name)?) };
        let dt = match b {
            Some(b) => same_dtypes(name, &[a, b])?,
            None => a.dtype(),
        };
        let out = if dt == DType::Bool {
            run_bool(self.kind, a, b)
        } else {
            dispatch_int!(dt, T => run_int::<T>(self.kind, a, b))
        };
        Ok(vec![named(name, out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(if self.kind == Bits::Not { infer_unary(inputs, None) } else { infer_broadcast(inputs, None) })
    }
}
