//! PRelu: `x < 0 ? slope * x : x`, with `slope` broadcast against `x` (numpy rules).
//! Floats are computed in f64; integers exactly (wrapping).
//! Opset < 7 models (e.g. PyTorch's old exporter) give a per-channel slope of shape `[C]` for
//! an `[N, C, ...]` input; such a slope is aligned to axis 1, as ONNX Runtime does.

use super::common::{infer_broadcast, named, same_dtypes};
use crate::ops::util::binary_map;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_numeric, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct PRelu;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(PRelu))
}

fn prelu<T: Elem>(x: T, slope: T) -> T {
    if x >= T::zero() || T::DTYPE.is_float() && x.to_f64().is_nan() {
        x
    } else if T::DTYPE.is_float() {
        T::from_f64(x.to_f64() * slope.to_f64())
    } else {
        T::from_i64(x.to_i64().wrapping_mul(slope.to_i64()))
    }
}

impl Op for PRelu {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "PRelu")?;
        let slope = input(inputs, 1, "PRelu")?;
        let dt = same_dtypes("PRelu", &[x, slope])?;
        let channel_slope;
        let slope = if slope.rank() == 1
            && x.rank() > 2
            && slope.len() == x.shape()[1]
            && slope.len() != x.shape()[x.rank() - 1]
        {
            let mut shape = vec![slope.len()];
            shape.extend(std::iter::repeat_n(1, x.rank() - 2));
            channel_slope = slope.clone().reshape(shape)?;
            &channel_slope
        } else {
            slope
        };
        let out = dispatch_numeric!(dt, T => binary_map::<T, T>(x, slope, prelu::<T>));
        Ok(vec![named("PRelu", out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_broadcast(inputs, None))
    }
}
