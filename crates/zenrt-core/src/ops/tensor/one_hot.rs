//! OneHot: `values[1]` where the (possibly negative) index matches, else `values[0]`; the depth
//! axis is inserted at `axis` (default -1). Out-of-range indices give an all-off row.

use super::common::{dtype_of, prod};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, dispatch_all, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct OneHot {
    pub axis: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(OneHot { axis: cx.int("axis", -1)? }))
}

fn one_hot_typed<T: Elem>(
    ind: &[i64],
    vals: &Tensor,
    outer: usize,
    depth: usize,
    inner: usize,
    shape: Vec<usize>,
) -> Result<Tensor> {
    let v = vals.as_slice::<T>()?;
    let (off, on) = (v[0], v[1]);
    let mut out = vec![off; outer * depth * inner];
    for o in 0..outer {
        for i in 0..inner {
            let mut k = ind[o * inner + i];
            if k < 0 {
                k += depth as i64;
            }
            if k >= 0 && (k as usize) < depth {
                out[(o * depth + k as usize) * inner + i] = on;
            }
        }
    }
    Tensor::from_vec(shape, out)
}

impl Op for OneHot {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let ind = input(inputs, 0, "OneHot")?;
        let depth = input(inputs, 1, "OneHot")?;
        let vals = input(inputs, 2, "OneHot")?;
        if depth.len() != 1 || vals.len() != 2 {
            bail!("OneHot: depth must have one element and values two");
        }
        let d = depth.to_f64_vec()[0];
        if !(1.0..=1e12).contains(&d) {
            bail!("OneHot: invalid depth {d}");
        }
        let depth = d as usize;
        let r = ind.rank() as i64;
        let axis = if self.axis < 0 { self.axis + r + 1 } else { self.axis };
        if axis < 0 || axis > r {
            bail!("OneHot: axis {} out of range for output rank {}", self.axis, r + 1);
        }
        let axis = axis as usize;
        let mut shape = ind.shape().to_vec();
        shape.insert(axis, depth);
        checked_numel(&shape, vals.dtype(), "OneHot output")?;
        let outer = prod(&ind.shape()[..axis]);
        let inner = prod(&ind.shape()[axis..]);
        let ids: Vec<i64> = ind.to_f64_vec().iter().map(|&f| f as i64).collect();
        Ok(vec![dispatch_all!(vals.dtype(), T => one_hot_typed::<T>(&ids, vals, outer, depth, inner, shape))?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(super::common::out(dtype_of(inputs, 2), None))
    }
}
