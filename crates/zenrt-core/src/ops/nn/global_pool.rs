//! GlobalAveragePool, GlobalMaxPool and GlobalLpPool: reduce every spatial axis of
//! `[N, C, D1, ...]` to size 1.

use super::common::{float_vec, from_f64_vec};
use super::pool::infer_global;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{dispatch_numeric, ensure, Elem, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GlobalKind {
    Average,
    Max,
    Lp(f64),
}

#[derive(Debug)]
pub struct GlobalPool {
    pub kind: GlobalKind,
}

pub fn build_average(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(GlobalPool { kind: GlobalKind::Average }))
}
pub fn build_max(_: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(GlobalPool { kind: GlobalKind::Max }))
}
pub fn build_lp(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(GlobalPool { kind: GlobalKind::Lp(cx.float("p", 2.0)? as f64) }))
}

fn out_shape(x: &Tensor) -> Result<(Vec<usize>, usize, usize)> {
    ensure!(x.rank() >= 2, "global pool: input must be [N, C, ...], got {:?}", x.shape());
    let mut s = x.shape()[..2].to_vec();
    s.extend(std::iter::repeat_n(1, x.rank() - 2));
    let planes = s[0] * s[1];
    let plane: usize = x.shape()[2..].iter().product();
    Ok((s, planes, plane))
}

fn global_max<T: Elem>(x: &Tensor) -> Result<Tensor> {
    let (shape, planes, plane) = out_shape(x)?;
    let xv = x.as_slice::<T>()?;
    let lowest = T::from_f64(f64::NEG_INFINITY);
    let out: Vec<T> = (0..planes)
        .map(|i| xv[i * plane..(i + 1) * plane].iter().fold(lowest, |m, &v| if v > m { v } else { m }))
        .collect();
    Tensor::from_vec(shape, out)
}

impl Op for GlobalPool {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "global pool")?;
        if self.kind == GlobalKind::Max {
            return Ok(vec![dispatch_numeric!(x.dtype(), T => global_max::<T>(x))?]);
        }
        let (shape, planes, plane) = out_shape(x)?;
        if self.kind == GlobalKind::Average && x.dtype() == crate::DType::F32 && plane > 0 {
            // Vector sums per plane, planes split over threads when large.
            let xv = x.as_slice::<f32>()?;
            let mut out = crate::memory::alloc_for_overwrite::<f32>(planes);
            let per = (crate::simd::par::MIN_CHUNK / plane).max(1);
            crate::simd::par::for_chunks(&mut out, per, |start, o| {
                for (i, v) in o.iter_mut().enumerate() {
                    let p = start + i;
                    *v = crate::simd::sum(&xv[p * plane..(p + 1) * plane]) / plane as f32;
                }
            });
            return Ok(vec![Tensor::from_vec(shape, out)?]);
        }
        let xv = float_vec(x, "global pool")?;
        let out: Vec<f64> = (0..planes)
            .map(|i| {
                let s = &xv[i * plane..(i + 1) * plane];
                match self.kind {
                    GlobalKind::Lp(p) => s.iter().map(|v| v.abs().powf(p)).sum::<f64>().powf(1.0 / p),
                    _ => s.iter().sum::<f64>() / plane as f64,
                }
            })
            .collect();
        Ok(vec![from_f64_vec(x.dtype(), shape, out)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_global(inputs))
    }
}
