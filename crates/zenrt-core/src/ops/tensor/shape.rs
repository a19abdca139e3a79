//! Shape: the input's dims as int64 (`start`/`end` from opset 15, clamped).

use super::common::{out, shape_of};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{DType, Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Shape {
    pub start: i64,
    pub end: Option<i64>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Shape { start: cx.int("start", 0)?, end: cx.int_opt("end")? }))
}

impl Shape {
    fn range(&self, r: usize) -> (usize, usize) {
        let c = |v: i64| {
            let v = if v < 0 { v + r as i64 } else { v };
            v.clamp(0, r as i64) as usize
        };
        let s = c(self.start);
        let e = self.end.map(c).unwrap_or(r);
        (s, e.max(s))
    }
}

impl Op for Shape {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Shape")?;
        let (s, e) = self.range(x.rank());
        let v: Vec<i64> = x.shape()[s..e].iter().map(|&d| d as i64).collect();
        Ok(vec![Tensor::from_vec(vec![v.len()], v)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let shape = shape_of(inputs, 0).map(|s| {
            let (a, b) = self.range(s.len());
            vec![Dim::Known(b - a)]
        });
        Ok(out(Some(DType::I64), shape))
    }
}
