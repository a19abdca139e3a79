//! GatherElements: `out[i][j][k] = data[index[i][j][k]][j][k]` (for axis 0), indices may be negative.

use super::common::{axis_of, dtype_of, next_index, norm_index, offset, out, shape_of, take};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct GatherElements {
    pub axis: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(GatherElements { axis: cx.int("axis", 0)? }))
}

impl Op for GatherElements {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "GatherElements")?;
        let ind = input(inputs, 1, "GatherElements")?;
        let r = x.rank();
        if r == 0 || ind.rank() != r {
            bail!("GatherElements: data {:?} and indices {:?} must have the same rank >= 1", x.shape(), ind.shape());
        }
        let axis = axis_of(self.axis, r)?;
        for d in 0..r {
            if d != axis && ind.shape()[d] > x.shape()[d] {
                bail!("GatherElements: indices {:?} larger than data {:?} off the axis", ind.shape(), x.shape());
            }
        }
        let ids = ints_of(ind)?;
        let strides = x.strides();
        let mut idx = Vec::with_capacity(ids.len());
        let mut mi = vec![0usize; r];
        for &i in &ids {
            let mut m = mi.clone();
            m[axis] = norm_index(i, x.shape()[axis], "GatherElements")?;
            idx.push(offset(&m, &strides));
            next_index(&mut mi, ind.shape());
        }
        Ok(vec![take(x, &idx, ind.shape().to_vec(), None)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(out(dtype_of(inputs, 0), shape_of(inputs, 1)))
    }
}
