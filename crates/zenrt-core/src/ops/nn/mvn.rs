//! MeanVarianceNormalization: `(x - E[x]) / (sqrt(E[x²] - E[x]²) + 1e-9)` over `axes`
//! (default [0, 2, 3]), as in the ONNX function definition.

use super::common::{float_vec, from_f64_vec, unravel};
use crate::ops::util::{norm_axis, same_as_input0};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Mvn {
    pub axes: Vec<i64>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Mvn { axes: cx.ints_opt("axes")?.unwrap_or_else(|| vec![0, 2, 3]) }))
}

impl Op for Mvn {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "MeanVarianceNormalization")?;
        let shape = x.shape();
        let mut reduced = vec![false; shape.len()];
        for &a in &self.axes {
            reduced[norm_axis(a, shape.len())?] = true;
        }
        // Flat index of each element among the kept (non-reduced) axes.
        let kept: Vec<usize> = shape.iter().zip(&reduced).map(|(&d, &r)| if r { 1 } else { d }).collect();
        let kept_strides = crate::strides_of(&kept);
        let groups: usize = kept.iter().product();
        let xv = float_vec(x, "MeanVarianceNormalization")?;
        let mut pos = vec![0; shape.len()];
        let key: Vec<usize> = (0..xv.len())
            .map(|i| {
                unravel(i, shape, &mut pos);
                pos.iter().zip(&reduced).zip(&kept_strides).map(|((&p, &r), &s)| if r { 0 } else { p * s }).sum()
            })
            .collect();
        let (mut s1, mut s2, mut cnt) = (vec![0.0; groups], vec![0.0; groups], vec![0usize; groups]);
        for (&k, &v) in key.iter().zip(&xv) {
            s1[k] += v;
            s2[k] += v * v;
            cnt[k] += 1;
        }
        let y: Vec<f64> = key
            .iter()
            .zip(&xv)
            .map(|(&k, &v)| {
                let mean = s1[k] / cnt[k] as f64;
                let var = s2[k] / cnt[k] as f64 - mean * mean;
                (v - mean) / (var.max(0.0).sqrt() + 1e-9)
            })
            .collect();
        Ok(vec![from_f64_vec(x.dtype(), shape.to_vec(), y)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
