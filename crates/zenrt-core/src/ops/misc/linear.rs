//! LinearRegressor and LinearClassifier (ai.onnx.ml): `scores = X · coefficientsᵀ + intercepts`
//! with `coefficients` laid out `[targets or classes, F]`, then the post transform; the
//! classifier also picks a label (ONNX Runtime's rules: argmax, or for a single score column
//! `score > 0` picks the second of two labels, the column then widening to `[-s, s]`-style pairs).

use super::ml_common::{
    argmax, f32_matrix, finish_row, logistic, reals, reals_opt, rows, tensor_input, values_only, Labels, Post, Second,
};
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor, Value};
use std::sync::Arc;

/// `coefficients` and `intercepts` of `k` outputs.
#[derive(Debug)]
struct Affine {
    coef: Vec<f64>,
    intercepts: Vec<f64>,
}

impl Affine {
    fn parse(cx: &BuildCtx) -> Result<Affine> {
        Ok(Affine { coef: reals(cx, "coefficients")?, intercepts: reals_opt(cx, "intercepts")?.unwrap_or_default() })
    }

    /// Scores `[N, k]` of the rows of `x`, with `k` = coefficients / features.
    fn scores(&self, x: &Tensor, op: &str) -> Result<(usize, usize, Vec<f64>)> {
        let (n, f, xv) = rows(x, op)?;
        if f == 0 || !self.coef.len().is_multiple_of(f) || self.coef.is_empty() {
            bail!("{op}: {} coefficients do not fit {f} features", self.coef.len());
        }
        let k = self.coef.len() / f;
        if !self.intercepts.is_empty() && self.intercepts.len() != k {
            bail!("{op}: {} intercepts for {k} outputs", self.intercepts.len());
        }
        let mut out = Vec::with_capacity(n * k);
        for row in xv.chunks(f) {
            for (t, w) in self.coef.chunks(f).enumerate() {
                let b = self.intercepts.get(t).copied().unwrap_or(0.0);
                out.push(row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + b);
            }
        }
        Ok((n, k, out))
    }
}

#[derive(Debug)]
pub struct LinearRegressor {
    affine: Affine,
    targets: usize,
    post: Post,
}

pub fn build_regressor(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let targets = cx.int("targets", 1)?;
    if targets < 1 {
        bail!("LinearRegressor: targets must be positive, got {targets}");
    }
    Ok(Arc::new(LinearRegressor { affine: Affine::parse(cx)?, targets: targets as usize, post: Post::parse(cx)? }))
}

impl Op for LinearRegressor {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (n, k, mut s) = self.affine.scores(input(inputs, 0, "LinearRegressor")?, "LinearRegressor")?;
        if k != self.targets {
            bail!("LinearRegressor: coefficients give {k} targets, the targets attribute says {}", self.targets);
        }
        s.chunks_mut(k).for_each(|r| self.post.apply(r));
        Ok(vec![f32_matrix(n, k, s)?])
    }
}

#[derive(Debug)]
pub struct LinearClassifier {
    affine: Affine,
    labels: Labels,
    post: Post,
}

pub fn build_classifier(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let Some(labels) = Labels::parse(cx, "classlabels")? else {
        bail!("LinearClassifier: classlabels_ints or classlabels_strings is required");
    };
    Ok(Arc::new(LinearClassifier { affine: Affine::parse(cx)?, labels, post: Post::parse(cx)? }))
}

impl Op for LinearClassifier {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("LinearClassifier"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = tensor_input(inputs, "LinearClassifier")?;
        let (n, k, s) = self.affine.scores(x, "LinearClassifier")?;
        let two = self.labels.len() == 2;
        if k != 1 && k != self.labels.len() {
            bail!("LinearClassifier: {k} score columns for {} class labels", self.labels.len());
        }
        let mut picks = Vec::with_capacity(n);
        let mut out = Vec::with_capacity(n * k.max(2));
        for row in s.chunks(k) {
            // One column: positive score picks the second label (index 1 even without two labels).
            picks.push(if k == 1 { usize::from(row[0] > 0.0) } else { argmax(row) });
            let mut r = row.to_vec();
            if k == 1 && two && self.post == Post::Logistic {
                // ONNX Runtime: the logistic of the single score, then [1 - p, p].
                r[0] = logistic(r[0]);
                finish_row(&mut r, Post::None, Some(Second::Complement));
            } else {
                finish_row(&mut r, self.post, (k == 1 && two).then_some(Second::Complement));
            }
            out.extend(r);
        }
        let cols = if k == 1 && two { 2 } else { k };
        Ok(vec![self.labels.output(&picks)?, Value::from(f32_matrix(n, cols, out)?)])
    }
}
