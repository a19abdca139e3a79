//! IsNaN and IsInf (with `detect_positive` / `detect_negative`): float in, bool out.

use super::common::{infer_unary, named};
use crate::ops::util::unary_map;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_float, DType, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct IsNaN;

pub fn build_isnan(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(IsNaN))
}

impl Op for IsNaN {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "IsNaN")?;
        let out = dispatch_float!(x.dtype(), T => unary_map::<T, bool>(x, |v| v.to_f64().is_nan()));
        Ok(vec![named("IsNaN", out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_unary(inputs, Some(DType::Bool)))
    }
}

#[derive(Debug)]
pub struct IsInf {
    pub positive: bool,
    pub negative: bool,
}

pub fn build_isinf(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(IsInf { positive: cx.int("detect_positive", 1)? != 0, negative: cx.int("detect_negative", 1)? != 0 }))
}

impl Op for IsInf {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "IsInf")?;
        let (pos, neg) = (self.positive, self.negative);
        let test = move |v: f64| (pos && v == f64::INFINITY) || (neg && v == f64::NEG_INFINITY);
        let out = dispatch_float!(x.dtype(), T => unary_map::<T, bool>(x, |v| test(v.to_f64())));
        Ok(vec![named("IsInf", out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_unary(inputs, Some(DType::Bool)))
    }
}
