//! LRN: local response normalization across channels,
//! `y = x / (bias + alpha/size · Σ x²)^beta` over a window of `size` neighbouring channels.

use super::common::{float_vec, from_f64_vec};
use crate::ops::util::same_as_input0;
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Lrn {
    pub alpha: f64,
    pub beta: f64,
    pub bias: f64,
    pub size: usize,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let size = cx.req_int("size")?;
    if size < 1 {
        return Err(Error::Attr { attr: "size".into(), msg: format!("must be >= 1, got {size}") });
    }
    Ok(Arc::new(Lrn {
        alpha: cx.float("alpha", 1e-4)? as f64,
        beta: cx.float("beta", 0.75)? as f64,
        bias: cx.float("bias", 1.0)? as f64,
        size: size as usize,
    }))
}

impl Op for Lrn {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "LRN")?;
        ensure!(x.rank() >= 2, "LRN: input must be [N, C, ...], got {:?}", x.shape());
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let plane: usize = x.shape()[2..].iter().product();
        let xv = float_vec(x, "LRN")?;
        let before = (self.size - 1) / 2;
        let after = self.size - 1 - before;
        let mut y = vec![0.0; xv.len()];
        for ni in 0..n {
            for ch in 0..c {
                let lo = ch.saturating_sub(before);
                let hi = (ch + after).min(c - 1);
                for p in 0..plane {
                    let sq: f64 = (lo..=hi).map(|k| xv[(ni * c + k) * plane + p].powi(2)).sum();
                    let i = (ni * c + ch) * plane + p;
                    y[i] = xv[i] / (self.bias + self.alpha / self.size as f64 * sq).powf(self.beta);
                }
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), x.shape().to_vec(), y)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(same_as_input0(inputs))
    }
}
