//! Losses, appended to a forward graph as ordinary nodes (so they are differentiated by the
//! same rules as the model), with Keras semantics: every loss is the mean over all samples
//! (and, for MSE/BCE, all elements).
//!
//! | loss | formula (per sample, then averaged) |
//! | --- | --- |
//! | `SparseCategoricalCrossentropy` | `−log softmax(z)[t]` (logits) or `−log clip(p/Σp, ε, 1−ε)[t]` (probabilities) |
//! | `CategoricalCrossentropy` | `−Σ_c t_c·log softmax(z)_c` (logits) or with `clip(p/Σp, ε, 1−ε)` |
//! | `BinaryCrossentropy` | `softplus(z) − z·t` (logits, stable softplus) or `−t·log p − (1−t)·log(1−p)`, `p` clipped |
//! | `MeanSquaredError` | `(p − t)²` |
//!
//! `ε = 1e-7` (Keras' backend epsilon). Class axis: the last one.

use crate::autodiff::builder::Builder;
use zenrt_core::{Attr, DType, Error, Graph, Result, Tensor};

/// Keras' fuzz factor for clipping probabilities.
pub const EPSILON: f64 = 1e-7;

/// A training loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// Integer class labels `[N, ...]` (or `[N, ..., 1]`) against `[N, ..., C]` predictions.
    SparseCategoricalCrossentropy { from_logits: bool },
    /// One-hot (or soft) targets of the prediction's shape.
    CategoricalCrossentropy { from_logits: bool },
    /// Targets in `[0, 1]` of the prediction's shape.
    BinaryCrossentropy { from_logits: bool },
    /// Targets of the prediction's shape.
    MeanSquaredError,
}

impl Loss {
    /// A short name (`sparse_categorical_crossentropy`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Loss::SparseCategoricalCrossentropy { .. } => "sparse_categorical_crossentropy",
            Loss::CategoricalCrossentropy { .. } => "categorical_crossentropy",
            Loss::BinaryCrossentropy { .. } => "binary_crossentropy",
            Loss::MeanSquaredError => "mean_squared_error",
        }
    }

    /// The dtype the target input should have (`I64` for sparse labels, else the prediction's).
    pub fn target_dtype(&self, prediction: DType) -> DType {
        match self {
            Loss::SparseCategoricalCrossentropy { .. } => DType::I64,
            _ => prediction,
        }
    }

    /// Appends nodes computing the mean loss of `prediction` against `target` (both values of
    /// `g`); returns the name of the scalar loss value.
    pub fn append(&self, g: &mut Graph, prediction: &str, target: &str) -> Result<String> {
        let mut b = Builder::new(g, "loss");
        let dt = b.dtype_of(prediction);
        if !dt.is_float() {
            return Err(Error::BadInput { name: prediction.into(), msg: format!("prediction must be float, is {dt}") });
        }
        let per_elem = match *self {
            Loss::SparseCategoricalCrossentropy { from_logits } => {
                let logp = log_probs(&mut b, prediction, from_logits)?;
                // Labels reshaped to the prediction's leading axes ([N,1] → [N]), one-hot encoded.
                let lead = b.node("Shape", &[prediction], vec![("end", Attr::Int(-1))])?;
                let t = b.cast(target, DType::I64)?;
                let t = b.node("Reshape", &[&t, &lead], vec![])?;
                let depth = b.node("Shape", &[prediction], vec![("start", Attr::Int(-1))])?;
                let values = b.constant(Tensor::from_vec(vec![2], vec![0.0f64, 1.0])?.cast(dt)?);
                let oh = b.node("OneHot", &[&t, &depth, &values], vec![("axis", Attr::Int(-1))])?;
                cross_entropy(&mut b, &oh, &logp)?
            }
            Loss::CategoricalCrossentropy { from_logits } => {
                let logp = log_probs(&mut b, prediction, from_logits)?;
                let t = b.cast(target, dt)?;
                cross_entropy(&mut b, &t, &logp)?
            }
            Loss::BinaryCrossentropy { from_logits: true } => {
                let t = b.cast(target, dt)?;
                let z = prediction;
                // softplus(z) − z·t: Softplus is evaluated stably (max(z,0) + log1p(e^{−|z|})),
                // and unlike that split form it has no kink at 0 for the gradient.
                let sp = b.node("Softplus", &[z], vec![])?;
                let zt = b.mul(z, &t)?;
                b.sub(&sp, &zt)?
            }
            Loss::BinaryCrossentropy { from_logits: false } => {
                let t = b.cast(target, dt)?;
                let p = clip_eps(&mut b, prediction)?;
                let lp = b.node("Log", &[&p], vec![])?;
                let one = b.scalar(1.0, dt)?;
                let q = b.sub(&one, &p)?;
                let lq = b.node("Log", &[&q], vec![])?;
                let u = b.sub(&one, &t)?;
                let a = b.mul(&t, &lp)?;
                let c = b.mul(&u, &lq)?;
                let s = b.add(&a, &c)?;
                b.neg(&s)?
            }
            Loss::MeanSquaredError => {
                let t = b.cast(target, dt)?;
                let d = b.sub(prediction, &t)?;
                b.mul(&d, &d)?
            }
        };
        let loss = b.node("ReduceMean", &[&per_elem], vec![("keepdims", Attr::Int(0))])?;
        Ok(loss)
    }

    /// Checks a target batch against the prediction shape: shapes, label dtype and class
    /// range for sparse labels, `[0, 1]` for binary targets, finite values.
    pub fn check_targets(&self, pred_shape: &[usize], target: &Tensor) -> Result<()> {
        let bad = |msg: String| Err(Error::BadInput { name: "target".into(), msg });
        let ts = target.shape();
        match self {
            Loss::SparseCategoricalCrossentropy { .. } => {
                let Some((&classes, lead)) = pred_shape.split_last() else {
                    return bad("prediction is a scalar; sparse labels need a class axis".into());
                };
                let ok_shape =
                    ts == lead || (ts.len() == lead.len() + 1 && ts[..lead.len()] == *lead && ts[lead.len()] == 1);
                if !ok_shape {
                    return bad(format!(
                        "sparse labels have shape {ts:?}, expected {lead:?} for predictions {pred_shape:?}"
                    ));
                }
                let labels: Vec<f64> = if target.dtype().is_int() {
                    target.to_i64_vec().into_iter().map(|v| v as f64).collect()
                } else if target.dtype().is_float() {
                    target.to_f64_vec()
                } else {
                    return bad(format!("sparse labels must be integers, got {}", target.dtype()));
                };
                for (i, &v) in labels.iter().enumerate() {
                    if v.fract() != 0.0 || v < 0.0 || v >= classes as f64 {
                        return bad(format!("label #{i} is {v}, outside the {classes} classes [0, {})", classes));
                    }
                }
            }
            _ => {
                if ts != pred_shape {
                    return bad(format!("target shape {ts:?} differs from prediction shape {pred_shape:?}"));
                }
                if !target.dtype().is_float() && !target.dtype().is_int() {
                    return bad(format!("target must be numeric, got {}", target.dtype()));
                }
                let v = target.to_f64_vec();
                if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                    return bad(format!("target element #{i} is {}", v[i]));
                }
                if matches!(self, Loss::BinaryCrossentropy { .. }) {
                    if let Some(i) = v.iter().position(|x| !(0.0..=1.0).contains(x)) {
                        return bad(format!("binary target element #{i} is {}, outside [0, 1]", v[i]));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `clip(p, ε, 1−ε)`.
fn clip_eps(b: &mut Builder, p: &str) -> Result<String> {
    let lo = b.scalar_like(EPSILON, p)?;
    let hi = b.scalar_like(1.0 - EPSILON, p)?;
    b.node("Clip", &[p, &lo, &hi], vec![])
}

/// Log-probabilities along the last axis: LogSoftmax of logits, or the log of renormalized,
/// clipped probabilities (as Keras does).
fn log_probs(b: &mut Builder, pred: &str, from_logits: bool) -> Result<String> {
    if from_logits {
        return b.node("LogSoftmax", &[pred], vec![("axis", Attr::Int(-1))]);
    }
    let s = b.reduce_sum(pred, &[-1], true)?;
    let p = b.div(pred, &s)?;
    let p = clip_eps(b, &p)?;
    b.node("Log", &[&p], vec![])
}

/// `−Σ_c t_c · logp_c` over the last axis.
fn cross_entropy(b: &mut Builder, t: &str, logp: &str) -> Result<String> {
    let m = b.mul(t, logp)?;
    let s = b.reduce_sum(&m, &[-1], false)?;
    b.neg(&s)
}
