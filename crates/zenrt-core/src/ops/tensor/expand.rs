//! Expand: numpy-style (bidirectional) broadcast of the input to the `shape` input.

use super::common::{const_ints, dims_from, dtype_of, out, shape_of, take};
use crate::ops::util::{broadcast_dims, broadcast_index_map, broadcast_shapes, ints_of};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{checked_numel, Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Expand;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Expand))
}

impl Op for Expand {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Expand")?;
        let target = dims_from(&ints_of(input(inputs, 1, "Expand")?)?, "Expand shape")?;
        let shape = broadcast_shapes(x.shape(), &target)?;
        if shape.as_slice() == x.shape() {
            return Ok(vec![x.clone()]);
        }
        checked_numel(&shape, x.dtype(), "Expand output")?;
        let idx = broadcast_index_map(x.shape(), &shape);
        Ok(vec![take(x, &idx, shape, None)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dt = dtype_of(inputs, 0);
        let shape = match (shape_of(inputs, 0), const_ints(inputs, 1)) {
            (Some(s), Some(t)) if t.iter().all(|&v| v >= 0) => {
                let t: Vec<Dim> = t.iter().map(|&v| Dim::Known(v as usize)).collect();
                Some(broadcast_dims(&s, &t))
            }
            _ => None,
        };
        Ok(out(dt, shape))
    }
}
