//! `SumToShape(x, like)`: the adjoint of numpy broadcasting. `x` has the broadcast shape of
//! `like` with something else; the result has `like`'s shape, each element the sum of the
//! elements of `x` that broadcasting copied it to.

use crate::ops::nn::common::from_f64_vec;
use crate::ops::util::broadcast_shapes;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_float, ensure, strides_of, Elem, Result, Tensor, ValueInfo};
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
    dispatch_float!(x.dtype(), T => reduce_typed::<T>(x, shape))
}

/// Walks `x` in row-major order with an odometer over its axes; the output offset moves by
/// the output stride of each axis (0 along broadcast axes). Accumulates in f64.
fn reduce_typed<T: Elem>(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let xs = x.shape();
    let r = xs.len();
    let off = r - shape.len();
    let ostr = strides_of(shape);
    // Output stride per x axis (0 where the output broadcasts).
    let step: Vec<usize> = (0..r).map(|d| if d < off || shape[d - off] == 1 { 0 } else { ostr[d - off] }).collect();
    let xv = x.as_slice::<T>()?;
    let mut acc = vec![0.0f64; shape.iter().product()];
    if xv.is_empty() {
        return from_f64_vec(x.dtype(), shape.to_vec(), acc);
    }
    let last = xs[r - 1];
    let (s_last, mut idx, mut base) = (step[r - 1], vec![0usize; r], 0usize);
    for row in xv.chunks(last.max(1)) {
        if s_last == 0 {
            acc[base] += row.iter().map(|v| v.to_f64()).sum::<f64>();
        } else {
            for (k, v) in row.iter().enumerate() {
                acc[base + k * s_last] += v.to_f64();
            }
        }
        // Advance the odometer over the axes before the last.
        let mut d = r - 1;
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            base += step[d];
            if idx[d] < xs[d] {
                break;
            }
            base -= step[d] * xs[d];
            idx[d] = 0;
        }
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
