//! BatchNormalization over axis 1 of `[N, C, ...]`. Inference mode normalizes with the given
//! running statistics; training mode (opset 14+ `training_mode=1`, or older nodes that ask
//! for the statistics outputs) normalizes with batch statistics and returns the updated
//! running mean/variance.

use super::common::{float_vec, from_f64_vec};
use crate::ops::util::same_as_input0;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct BatchNorm {
    pub epsilon: f64,
    pub momentum: f64,
    pub training: bool,
    /// Opset < 9 training nodes also return saved mean/variance.
    pub saved_outputs: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let training = if cx.opset >= 14 {
        cx.int("training_mode", 0)? != 0
    } else if cx.opset < 7 {
        cx.int("is_test", 0)? == 0 && cx.n_outputs > 1
    } else {
        cx.n_outputs > 1
    };
    Ok(Arc::new(BatchNorm {
        epsilon: cx.float("epsilon", 1e-5)? as f64,
        momentum: cx.float("momentum", 0.9)? as f64,
        training,
        saved_outputs: cx.opset < 14 && cx.n_outputs > 3,
    }))
}

fn param(t: &Tensor, c: usize, plane: usize, what: &str) -> Result<Vec<f64>> {
    let v = float_vec(t, what)?;
    // Per channel, or (opset < 7 with spatial=0) per channel and position.
    ensure!(v.len() == c || v.len() == c * plane, "BatchNormalization: {what} has {} values, expected {c}", v.len());
    Ok(v)
}

impl Op for BatchNorm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "BatchNormalization")?;
        ensure!(x.rank() >= 2, "BatchNormalization: input must be [N, C, ...], got {:?}", x.shape());
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let plane: usize = x.shape()[2..].iter().product();
        let get = |i: usize, what: &str| -> Result<(Vec<f64>, &Tensor)> {
            let t = input(inputs, i, "BatchNormalization")?;
            Ok((param(t, c, plane, what)?, t))
        };
        let (scale, _) = get(1, "scale")?;
        let (bias, _) = get(2, "bias")?;
        let (mean_in, mean_t) = get(3, "mean")?;
        let (var_in, var_t) = get(4, "var")?;
        if !self.training
            && x.dtype() == crate::DType::F32
            && [&scale, &bias, &mean_in, &var_in].iter().all(|v| v.len() == c)
        {
            // Inference, per-channel parameters: y = (x - mean) * a + bias per plane, planes
            // split over threads.
            let ab: Vec<(f32, f32, f32)> = (0..c)
                .map(|ch| {
                    let a = scale[ch] / (var_in[ch] + self.epsilon).sqrt();
                    (mean_in[ch] as f32, a as f32, bias[ch] as f32)
                })
                .collect();
            let xv = x.as_slice::<f32>()?;
            let mut y = crate::memory::alloc_for_overwrite::<f32>(xv.len());
            crate::simd::par::for_rows(&mut y, plane.max(1), |r, out| {
                let (m, a, b) = ab[r % c];
                for (o, &v) in out.iter_mut().zip(&xv[r * plane..(r + 1) * plane]) {
                    *o = (v - m) * a + b;
                }
            });
            return Ok(vec![Tensor::from_vec(x.shape().to_vec(), y)?]);
        }
        let xv = float_vec(x, "BatchNormalization")?;
        let at = |v: &[f64], ch: usize, p: usize| {
            if v.len() == c {
                v[ch]
            } else {
                v[ch * plane + p]
            }
        };
        let (mean, var) = if self.training {
            let cnt = (n * plane) as f64;
            let mut m = vec![0.0; c];
            let mut s = vec![0.0; c];
            for (i, &v) in xv.iter().enumerate() {
                m[(i / plane.max(1)) % c] += v;
            }
            m.iter_mut().for_each(|v| *v /= cnt);
            for (i, &v) in xv.iter().enumerate() {
                let ch = (i / plane.max(1)) % c;
                s[ch] += (v - m[ch]) * (v - m[ch]);
            }
            s.iter_mut().for_each(|v| *v /= cnt);
            (m, s)
        } else {
            (mean_in.clone(), var_in.clone())
        };
        let mut y = Vec::with_capacity(xv.len());
        for (i, &v) in xv.iter().enumerate() {
            let p = i % plane.max(1);
            let ch = (i / plane.max(1)) % c;
            let (mu, var) = (at(&mean, ch, p), at(&var, ch, p));
            y.push(at(&scale, ch, p) * (v - mu) / (var + self.epsilon).sqrt() + at(&bias, ch, p));
        }
        let mut out = vec![from_f64_vec(x.dtype(), x.shape().to_vec(), y)?];
        if self.training {
            let mo = self.momentum;
            let run = |inp: &[f64], cur: &[f64]| -> Vec<f64> {
                inp.iter().enumerate().map(|(i, &a)| a * mo + cur[i % c] * (1.0 - mo)).collect()
            };
            out.push(from_f64_vec(mean_t.dtype(), mean_t.shape().to_vec(), run(&mean_in, &mean))?);
            out.push(from_f64_vec(var_t.dtype(), var_t.shape().to_vec(), run(&var_in, &var))?);
            if self.saved_outputs {
                out.push(from_f64_vec(x.dtype(), vec![c], mean)?);
                out.push(from_f64_vec(x.dtype(), vec![c], var)?);
            }
        }
        Ok(out)
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let mut v = same_as_input0(inputs);
        if self.training {
            for i in [3, 4] {
                if let Some(info) = inputs.get(i).and_then(|i| i.info) {
                    v.push(ValueInfo::new("", info.dtype, info.shape.clone()));
                }
            }
        }
        Ok(v)
    }
}
