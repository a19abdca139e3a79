//! NegativeLogLikelihoodLoss (opset 12) and SoftmaxCrossEntropyLoss (opset 12).
//!
//! Input `(N, C, d1..dk)` (log-probabilities for NLL, raw scores for SCE, which first takes a
//! log-softmax over axis 1), target `(N, d1..dk)` of class indices, optional per-class `weight`
//! `(C)`. Each element's loss is `-weight[t] * logp[n, t, d...]`, and 0 with weight 0 where
//! `t == ignore_index`. `reduction`: "none" (shape of target), "sum", or "mean" (weighted mean:
//! sum of losses / sum of the weights used, i.e. the count of non-ignored elements without
//! `weight`). SCE's optional second output is the log-probabilities. Math in f64.

use crate::ops::util::ints_of;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{bail, dispatch_float, Elem, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reduction {
    None,
    Sum,
    Mean,
}

#[derive(Debug)]
pub struct Loss {
    /// SoftmaxCrossEntropyLoss (log-softmax first) rather than NegativeLogLikelihoodLoss.
    softmax: bool,
    reduction: Reduction,
    ignore_index: Option<i64>,
    /// SCE: whether the log_prob output is wanted.
    log_prob_output: bool,
}

fn build(cx: &BuildCtx, softmax: bool) -> Result<Arc<dyn Op>> {
    let reduction = match cx.string("reduction", "mean")?.as_str() {
        "none" => Reduction::None,
        "sum" => Reduction::Sum,
        "mean" => Reduction::Mean,
        other => {
            return Err(Error::Attr {
                attr: "reduction".into(),
                msg: format!("must be none, sum or mean, got {other:?}"),
            })
        }
    };
    Ok(Arc::new(Loss {
        softmax,
        reduction,
        ignore_index: cx.int_opt("ignore_index")?,
        log_prob_output: softmax && cx.n_outputs >= 2,
    }))
}

pub fn build_nll(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, false)
}
pub fn build_sce(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    build(cx, true)
}

/// Log-softmax over axis 1 of `x` viewed as `(n, c, d)`.
fn log_softmax_axis1(x: &[f64], n: usize, c: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for i in 0..n {
        for k in 0..d {
            let at = |j: usize| (i * c + j) * d + k;
            let m = (0..c).map(|j| x[at(j)]).fold(f64::NEG_INFINITY, f64::max);
            let shift = if m.is_finite() { m } else { 0.0 };
            let lse = (0..c).map(|j| (x[at(j)] - shift).exp()).sum::<f64>().ln() + shift;
            for j in 0..c {
                out[at(j)] = x[at(j)] - lse;
            }
        }
    }
    out
}

impl Loss {
    fn name(&self) -> &'static str {
        if self.softmax {
            "SoftmaxCrossEntropyLoss"
        } else {
            "NegativeLogLikelihoodLoss"
        }
    }

    /// Losses per target element and the weights used, from log-probabilities `logp` `(n, c, d)`.
    fn losses(
        &self,
        logp: &[f64],
        c: usize,
        d: usize,
        target: &[i64],
        weight: Option<&[f64]>,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let mut loss = Vec::with_capacity(target.len());
        let mut wts = Vec::with_capacity(target.len());
        for (pos, &t) in target.iter().enumerate() {
            if Some(t) == self.ignore_index {
                loss.push(0.0);
                wts.push(0.0);
                continue;
            }
            if t < 0 || t as u64 >= c as u64 {
                bail!("{}: target class {t} is out of range [0, {c})", self.name());
            }
            let t = t as usize;
            let (i, k) = (pos / d, pos % d);
            let w = weight.map_or(1.0, |w| w[t]);
            loss.push(-logp[(i * c + t) * d + k] * w);
            wts.push(w);
        }
        Ok((loss, wts))
    }

    fn run_typed<T: Elem>(&self, x: &Tensor, target: &Tensor, weight: Option<&Tensor>) -> Result<Vec<Tensor>> {
        let name = self.name();
        let shape = x.shape();
        if shape.len() < 2 {
            bail!("{name}: input must have shape (N, C, ...), got {shape:?}");
        }
        let (n, c) = (shape[0], shape[1]);
        let d: usize = shape[2..].iter().product();
        let mut want_target = vec![n];
        want_target.extend_from_slice(&shape[2..]);
        if target.shape() != want_target.as_slice() {
            bail!("{name}: target shape {:?} does not match input shape {shape:?}", target.shape());
        }
        let weight = match weight {
            Some(w) => {
                if w.shape() != [c] {
                    bail!("{name}: weight must have shape [{c}], got {:?}", w.shape());
                }
                Some(w.to_f64_vec())
            }
            None => None,
        };
        let xv: Vec<f64> = x.as_slice::<T>()?.iter().map(|v| v.to_f64()).collect();
        let logp = if self.softmax { log_softmax_axis1(&xv, n, c, d) } else { xv };
        let targets = ints_of(target)?;
        let (loss, wts) = self.losses(&logp, c, d, &targets, weight.as_deref())?;
        let to_t = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
        let loss = match self.reduction {
            Reduction::None => Tensor::from_vec(target.shape().to_vec(), to_t(loss))?,
            Reduction::Sum => Tensor::scalar(T::from_f64(loss.iter().sum())),
            Reduction::Mean => Tensor::scalar(T::from_f64(loss.iter().sum::<f64>() / wts.iter().sum::<f64>())),
        };
        let mut out = vec![loss];
        if self.log_prob_output {
            out.push(Tensor::from_vec(shape.to_vec(), to_t(logp))?);
        }
        Ok(out)
    }
}

impl Op for Loss {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let name = self.name();
        let x = input(inputs, 0, name)?;
        let target = input(inputs, 1, name)?;
        let weight = opt_input(inputs, 2);
        dispatch_float!(x.dtype(), T => self.run_typed::<T>(x, target, weight)).map_err(|e| match e {
            Error::UnsupportedDType { dtype, .. } => Error::UnsupportedDType { op: name.into(), dtype },
            e => e,
        })
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let x = inputs.first().and_then(|i| i.info);
        let dtype = x.and_then(|i| i.dtype);
        let loss_shape = match self.reduction {
            Reduction::None => inputs.get(1).and_then(|i| i.info).and_then(|i| i.shape.clone()),
            _ => Some(vec![]),
        };
        let mut out = vec![ValueInfo::new("", dtype, loss_shape)];
        if self.log_prob_output {
            out.push(ValueInfo::new("", dtype, x.and_then(|i| i.shape.clone())));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_mean_with_ignore() {
        let op = Loss { softmax: false, reduction: Reduction::Mean, ignore_index: Some(1), log_prob_output: false };
        // N=3, C=2: logp rows
        let x = Tensor::from_vec(vec![3, 2], vec![-1.0f64, -2.0, -3.0, -4.0, -5.0, -6.0]).unwrap();
        let t = Tensor::from_vec(vec![3], vec![0i64, 1, 1]).unwrap();
        let w = Tensor::from_vec(vec![2], vec![2.0f64, 3.0]).unwrap();
        let y = op.run_typed::<f64>(&x, &t, Some(&w)).unwrap();
        // only element 0 counts: 2*1 / 2
        assert_eq!(y[0].to_f64_vec(), vec![1.0]);
        let op = Loss { softmax: false, reduction: Reduction::None, ignore_index: None, log_prob_output: false };
        let y = op.run_typed::<f64>(&x, &t, None).unwrap();
        assert_eq!(y[0].to_f64_vec(), vec![1.0, 4.0, 6.0]);
    }

    #[test]
    fn softmax_ce() {
        let op = Loss { softmax: true, reduction: Reduction::Sum, ignore_index: None, log_prob_output: true };
        let x = Tensor::from_vec(vec![1, 2], vec![0.0f64, 0.0]).unwrap();
        let t = Tensor::from_vec(vec![1], vec![1i32]).unwrap();
        let y = op.run_typed::<f64>(&x, &t, None).unwrap();
        assert!((y[0].to_f64_vec()[0] - std::f64::consts::LN_2).abs() < 1e-12);
        assert_eq!(y[1].shape(), &[1, 2]);
    }
}
