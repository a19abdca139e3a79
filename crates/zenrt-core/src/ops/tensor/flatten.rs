//! Flatten: reshapes to 2-D `[prod(shape[..axis]), prod(shape[axis..])]`, axis in `[-r, r]`.

use super::common::{dtype_of, out, prod, shape_of};
use crate::ops::util::reshape_inplace;
use crate::ops::{input, BuildCtx, ExecCtx, InArg, InferInput, Op};
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

impl Flatten {
    fn new_shape(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<usize>> {
        let x = input(inputs, 0, "Flatten")?;
        let a = norm(self.axis, x.rank())?;
        Ok(vec![prod(&x.shape()[..a]), prod(&x.shape()[a..])])
    }
}

impl Op for Flatten {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let shape = self.new_shape(inputs)?;
        Ok(vec![input(inputs, 0, "Flatten")?.clone().reshape(shape)?])
    }

    /// Moves the data instead of copying it when the input dies here.
    fn inplace_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn run_inplace(&self, _: &dyn ExecCtx, inputs: &mut [Option<InArg<'_>>]) -> Result<Vec<Tensor>> {
        reshape_inplace(inputs, "Flatten", |r| self.new_shape(r))
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let shape = shape_of(inputs, 0).and_then(|s| {
            let a = norm(self.axis, s.len()).ok()?;
            Some(vec![prod_dims(&s[..a]), prod_dims(&s[a..])])
        });
        Ok(out(dtype_of(inputs, 0), shape))
    }
}
