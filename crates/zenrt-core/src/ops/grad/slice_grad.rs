//! `SliceGrad(dy, like, starts, ends[, axes, steps])`: the gradient of
//! `Slice(x, starts, ends, axes, steps)` with respect to `x` (shape of `like`): `dy` written
//! back at the sliced positions of a zero tensor.

use crate::ops::nn::common::from_f64_vec;
use crate::ops::tensor::common::axis_map_index;
use crate::ops::tensor::slice::plan;
use crate::ops::util::ints_of;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct SliceGrad;

pub fn build(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(SliceGrad))
}

impl Op for SliceGrad {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let dy = input(inputs, 0, "SliceGrad")?;
        let like = input(inputs, 1, "SliceGrad")?;
        super::check_float("SliceGrad", dy, like.dtype())?;
        let s = ints_of(input(inputs, 2, "SliceGrad")?)?;
        let e = ints_of(input(inputs, 3, "SliceGrad")?)?;
        let a = opt_input(inputs, 4).map(ints_of).transpose()?;
        let st = opt_input(inputs, 5).map(ints_of).transpose()?;
        let p = plan(like.shape(), &s, &e, a.as_deref(), st.as_deref())?;
        let out_shape: Vec<usize> = p.iter().map(|r| r.2).collect();
        ensure!(dy.shape() == out_shape, "SliceGrad: gradient shape {:?}, expected {out_shape:?}", dy.shape());
        let maps: Vec<Vec<Option<usize>>> =
            p.iter().map(|&(s, st, n)| (0..n as i64).map(|k| Some((s + k * st) as usize)).collect()).collect();
        let idx = axis_map_index(like.shape(), &out_shape, &maps);
        let mut acc = vec![0.0f64; like.len()];
        for (v, &i) in dy.to_f64_vec().into_iter().zip(&idx) {
            ensure!(i < acc.len(), "SliceGrad: internal index out of range");
            acc[i] += v;
        }
        Ok(vec![from_f64_vec(like.dtype(), like.shape().to_vec(), acc)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(inputs
            .get(1)
            .and_then(|i| i.info)
            .map(|i| vec![ValueInfo::new("", i.dtype, i.shape.clone())])
            .unwrap_or_default())
    }
}
