//! `SumToShape(x, like)`: the adjoint of numpy broadcasting. `x` has the broadcast shape of
//! `like` with something else; the result has `like`'s shape, each element the sum of the
//! elements of `x` that broadcasting copied it to.

use crate::ops::nn::common::from_f64_vec;
use crate::ops::util::{broadcast_index_map, broadcast_shapes};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct SumToShape;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SumToShape))
}

/// Sums `x` down to `shape` (which must broadcast to `x`'s shape).
pub fn sum_to_shape(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    ensure!(
        shape.len() <= x.rank() && broadcast_shapes(shape, x.shape())? == x.shape(),
        "SumToShape: shape {shape:?} does not broadcast to {:?}",
        x.shape()
    );
    if shape == x.shape() {
        return Ok(x.clone());
    }
    let map = broadcast_index_map(shape, x.shape());
    let mut acc = vec![0.0f64; shape.iter().product()];
    for (v, &i) in x.to_f64_vec().into_iter().zip(&map) {
        acc[i] += v;
    }
    from_f64_vec(x.dtype(), shape.to_vec(), acc)
}

impl Op for SumToShape {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "SumToShape")?;
        let like = input(inputs, 1, "SumToShape")?;
        ensure!(x.dtype().is_float(), "SumToShape: expected a float tensor, got {}", x.dtype());
        Ok(vec![sum_to_shape(x, like.shape())?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let dt = inputs.first().and_then(|i| i.info).and_then(|i| i.dtype);
        let shape = inputs.get(1).and_then(|i| i.info).and_then(|i| i.shape.clone());
        Ok(vec![ValueInfo::new("", dt, shape)])
    }
}
