//! Equal, Greater, GreaterOrEqual, Less, LessOrEqual: numpy-broadcast comparisons with a bool
//! output, compared natively in the element type (exact for every integer type).

use super::binary::legacy_align;
use super::common::{infer_broadcast, named, same_dtypes};
use crate::ops::util::binary_map;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_all, DType, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Equal,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Cmp {
    fn name(self) -> &'static str {
        match self {
            Cmp::Equal => "Equal",
            Cmp::Greater => "Greater",
            Cmp::GreaterOrEqual => "GreaterOrEqual",
            Cmp::Less => "Less",
            Cmp::LessOrEqual => "LessOrEqual",
        }
    }
}

#[derive(Debug)]
pub struct Compare {
    pub cmp: Cmp,
    /// Opset < 7 `broadcast`/`axis` attributes (legacy limited broadcasting).
    pub legacy_axis: Option<i64>,
}

pub fn build(cx: &BuildCtx, cmp: Cmp) -> Result<Arc<dyn Op>> {
    let legacy_axis = if cx.opset < 7 && cx.int("broadcast", 0)? == 1 { cx.int_opt("axis")? } else { None };
    Ok(Arc::new(Compare { cmp, legacy_axis }))
}

fn compare<T: Elem>(cmp: Cmp) -> impl Fn(T, T) -> bool + Copy {
    move |a: T, b: T| match cmp {
        Cmp::Equal => a == b,
        Cmp::Greater => a > b,
        Cmp::GreaterOrEqual => a >= b,
        Cmp::Less => a < b,
        Cmp::LessOrEqual => a <= b,
    }
}

impl Op for Compare {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let name = self.cmp.name();
        let a = input(inputs, 0, name)?;
        let b = legacy_align(a, input(inputs, 1, name)?, self.legacy_axis)?;
        let dt = same_dtypes(name, &[a, &b])?;
        let cmp = self.cmp;
        let out = dispatch_all!(dt, T => binary_map::<T, bool>(a, &b, compare::<T>(cmp)));
        Ok(vec![named(name, out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        if self.legacy_axis.is_some() {
            return Ok(vec![ValueInfo::new("", Some(DType::Bool), None)]);
        }
        Ok(infer_broadcast(inputs, Some(DType::Bool)))
    }
}
