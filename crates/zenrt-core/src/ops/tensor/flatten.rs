//! Flatten: reshapes to 2-D `[prod(shape[..axis]), prod(shape[axis..])]`, axis in `[-r, r]`.

use super::common::{dtype_of, out, prod, shape_of};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Flatten {
    pub axis: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Flatten { axis: cx.int("axis", 1)? }))
}

fn norm(axis: i64, r: usize) -> Result<usize> {
    let a = if axis < 0 { axis + r as i64 } else { axis };
    if a < 0 || a > r as i64 {
        bail!("Flatten: axis {axis} out of range for rank {r}");
    }
    Ok(a as usize)
}

fn prod_dims(d: &[Dim]) -> Dim {
    let mut p = 1usize;
    for x in d {
        match x {
            Dim::Known(n) => p *= n,
            _ if d.len() == 1 => return x.clone(),
            _ => return Dim::Unknown,
        }
    }
    Dim::Known(p)
}

impl Op for Flatten {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Flatten")?;
        let a = norm(self.axis, x.rank())?;
        let shape = vec![prod(&x.shape()[..a]), prod(&x.shape()[a..])];
        Ok(vec![x.clone().reshape(shape)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let shape = shape_of(inputs, 0).and_then(|s| {
            let a = norm(self.axis, s.len()).ok()?;
            Some(vec![prod_dims(&s[..a]), prod_dims(&s[a..])])
        });
        Ok(out(dtype_of(inputs, 0), shape))
    }
}
