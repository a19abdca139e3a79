//! Gather: picks slices along `axis` by (possibly negative) indices.

use super::common::{dtype_of, norm_index, out, prod, shape_of, take};
use crate::ops::util::{ints_of, norm_axis};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, checked_numel, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Gather {
    pub axis: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Gather { axis: cx.int("axis", 0)? }))
}

impl Op for Gather {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Gather")?;
        let ind = input(inputs, 1, "Gather")?;
        if x.rank() == 0 {
            bail!("Gather: data must have rank >= 1");
        }
        let axis = norm_axis(self.axis, x.rank())?;
        let dim = x.shape()[axis];
        let ids: Vec<usize> = ints_of(ind)?.into_iter().map(|i| norm_index(i, dim, "Gather")).collect::<Result<_>>()?;
        let outer = prod(&x.shape()[..axis]);
        let inner = prod(&x.shape()[axis + 1..]);
        let mut shape = x.shape()[..axis].to_vec();
        shape.extend_from_slice(ind.shape());
        shape.extend_from_slice(&x.shape()[axis + 1..]);
        let n = checked_numel(&shape, x.dtype(), "Gather output")?;
        let mut idx = Vec::with_capacity(n);
        for o in 0..outer {
            for &i in &ids {
                let base = (o * dim + i) * inner;
                idx.extend(base..base + inner);
            }
        }
        Ok(vec![take(x, &idx, shape, None)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let shape = match (shape_of(inputs, 0), shape_of(inputs, 1)) {
            (Some(d), Some(i)) => norm_axis(self.axis, d.len()).ok().map(|axis| {
                let mut s = d[..axis].to_vec();
                s.extend(i);
                s.extend_from_slice(&d[axis + 1..]);
                s
            }),
            _ => None,
        };
        Ok(out(dtype_of(inputs, 0), shape))
    }
}
