//! Metrics computed on host tensors after a step: accuracy for sparse labels, one-hot
//! targets and binary targets.

use crate::loss::Loss;
use zenrt_core::{Error, Result, Tensor};

fn argmax_rows(pred: &Tensor) -> Result<(Vec<usize>, usize)> {
    let Some(&c) = pred.shape().last() else {
        return Err(Error::BadInput { name: "prediction".into(), msg: "accuracy needs a class axis".into() });
    };
    let v = pred.to_f64_vec();
    let rows = v.len().checked_div(c).unwrap_or(0);
    let am = (0..rows)
        .map(|r| {
            let row = &v[r * c..(r + 1) * c];
            (0..c).fold(0, |best, j| if row[j] > row[best] { j } else { best })
        })
        .collect();
    Ok((am, c))
}

/// Fraction of rows whose arg-max class equals the integer label.
pub fn sparse_accuracy(pred: &Tensor, labels: &Tensor) -> Result<f64> {
    let (am, _) = argmax_rows(pred)?;
    let l = if labels.dtype().is_float() {
        labels.to_f64_vec().into_iter().map(|x| x as i64).collect()
    } else {
        labels.to_i64_vec()
    };
    if l.len() != am.len() {
        return Err(Error::BadInput {
            name: "target".into(),
            msg: format!("{} labels for {} predictions", l.len(), am.len()),
        });
    }
    Ok(ratio(am.iter().zip(&l).filter(|(a, b)| **a as i64 == **b).count(), am.len()))
}

/// Fraction of rows whose arg-max class equals the one-hot target's arg-max.
pub fn categorical_accuracy(pred: &Tensor, onehot: &Tensor) -> Result<f64> {
    if pred.shape() != onehot.shape() {
        return Err(Error::BadInput {
            name: "target".into(),
            msg: format!("target shape {:?} differs from prediction shape {:?}", onehot.shape(), pred.shape()),
        });
    }
    let (a, _) = argmax_rows(pred)?;
    let (b, _) = argmax_rows(onehot)?;
    Ok(ratio(a.iter().zip(&b).filter(|(x, y)| x == y).count(), a.len()))
}

/// Fraction of elements where `pred > threshold` agrees with `target > 0.5`.
pub fn binary_accuracy(pred: &Tensor, target: &Tensor, threshold: f64) -> Result<f64> {
    if pred.len() != target.len() {
        return Err(Error::BadInput {
            name: "target".into(),
            msg: format!("{} targets for {} predictions", target.len(), pred.len()),
        });
    }
    let (p, t) = (pred.to_f64_vec(), target.to_f64_vec());
    Ok(ratio(p.iter().zip(&t).filter(|(p, t)| (**p > threshold) == (**t > 0.5)).count(), p.len()))
}

/// The accuracy that fits `loss` (Keras' `"accuracy"` metric): sparse, categorical, or binary
/// (threshold 0 for logits, 0.5 for probabilities). `None` for regression losses.
pub fn accuracy(loss: &Loss, pred: &Tensor, target: &Tensor) -> Result<Option<f64>> {
    Ok(Some(match loss {
        Loss::SparseCategoricalCrossentropy { .. } => sparse_accuracy(pred, target)?,
        Loss::CategoricalCrossentropy { .. } => categorical_accuracy(pred, target)?,
        Loss::BinaryCrossentropy { from_logits } => {
            binary_accuracy(pred, target, if *from_logits { 0.0 } else { 0.5 })?
        }
        Loss::MeanSquaredError => return Ok(None),
    }))
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
