//! Compress: keeps the slices along `axis` (or elements of the flattened input when no axis)
//! whose `condition` entry is true; entries past the condition's length are dropped.

use super::common::{axis_of, dtype_of, out, prod, take};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Compress {
    pub axis: Option<i64>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Compress { axis: cx.int_opt("axis")? }))
}

impl Op for Compress {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Compress")?;
        let cond = input(inputs, 1, "Compress")?;
        if cond.rank() > 1 {
            bail!("Compress: condition must be 1-D");
        }
        let (outer, dim, inner, axis) = match self.axis {
            Some(a) => {
                let a = axis_of(a, x.rank())?;
                (prod(&x.shape()[..a]), x.shape()[a], prod(&x.shape()[a + 1..]), Some(a))
            }
            None => (1, x.len(), 1, None),
        };
        let keep: Vec<usize> = cond.to_i64_vec().iter().enumerate().filter(|(_, &c)| c != 0).map(|(i, _)| i).collect();
        if let Some(&bad) = keep.iter().find(|&&i| i >= dim) {
            bail!("Compress: condition selects index {bad} beyond axis size {dim}");
        }
        let mut idx = Vec::with_capacity(outer * keep.len() * inner);
        for o in 0..outer {
            for &k in &keep {
                let base = (o * dim + k) * inner;
                idx.extend(base..base + inner);
            }
        }
        let shape = match axis {
            Some(a) => {
                let mut s = x.shape().to_vec();
                s[a] = keep.len();
                s
            }
            None => vec![keep.len()],
        };
        Ok(vec![take(x, &idx, shape, None)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(out(dtype_of(inputs, 0), None))
    }
}
