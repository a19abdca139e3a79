//! SVMClassifier and SVMRegressor (ai.onnx.ml). Kernels (kernel_params = [gamma, coef0, degree]):
//! LINEAR x·v, POLY (gamma x·v + coef0)^degree, RBF exp(-gamma |x - v|²), SIGMOID
//! tanh(gamma x·v + coef0). With support vectors the classifier is libsvm's one-vs-one: one
//! decision value per class pair, a vote per pair, the label by most votes; with prob_a/prob_b
//! the pair values become Platt probabilities coupled into class probabilities (Wu, Lin & Weng
//! 2004, the method libsvm and ONNX Runtime use). Without support vectors it is linear
//! (liblinear): `X · coefficientsᵀ + rho[0]`. Binary score layouts follow ONNX Runtime.

use super::ml_common::{
    argmax, f32_matrix, finish_row, logistic, reals, reals_opt, rows, values_only, Labels, Post, Second,
};
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor, Value};
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
enum Kernel {
    Linear,
    Poly { gamma: f64, coef0: f64, degree: i32 },
    Rbf { gamma: f64 },
    Sigmoid { gamma: f64, coef0: f64 },
}

impl Kernel {
    fn parse(cx: &BuildCtx) -> Result<Kernel> {
        let p = reals_opt(cx, "kernel_params")?.unwrap_or_default();
        let at = |i: usize| p.get(i).copied().unwrap_or(0.0);
        Ok(match cx.string("kernel_type", "LINEAR")?.as_str() {
            "LINEAR" => Kernel::Linear,
            "POLY" => Kernel::Poly { gamma: at(0), coef0: at(1), degree: at(2) as i32 },
            "RBF" => Kernel::Rbf { gamma: at(0) },
            "SIGMOID" => Kernel::Sigmoid { gamma: at(0), coef0: at(1) },
            k => bail!("{}: unknown kernel_type '{k}'", cx.op_type),
        })
    }

    fn eval(self, x: &[f64], v: &[f64]) -> f64 {
        let dot = || x.iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
        match self {
            Kernel::Linear => dot(),
            Kernel::Poly { gamma, coef0, degree } => (gamma * dot() + coef0).powi(degree),
            Kernel::Rbf { gamma } => (-gamma * x.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()).exp(),
            Kernel::Sigmoid { gamma, coef0 } => (gamma * dot() + coef0).tanh(),
        }
    }
}

/// Support vectors `[V, F]` (F found from `n` vectors), checked to divide evenly.
fn support(cx: &BuildCtx, n: usize) -> Result<(Vec<f64>, usize)> {
    let sv = reals_opt(cx, "support_vectors")?.unwrap_or_default();
    if n == 0 {
        return Ok((sv, 0));
    }
    if sv.len() % n != 0 {
        bail!("{}: {} support vector values for {n} vectors", cx.op_type, sv.len());
    }
    let f = sv.len() / n;
    Ok((sv, f))
}

fn check_features(op: &str, f: usize, want: usize) -> Result<()> {
    if f != want {
        bail!("{op}: X has {f} features, the model {want}");
    }
    Ok(())
}

#[derive(Debug)]
pub struct SvmClassifier {
    kernel: Kernel,
    labels: Labels,
    /// Support vectors per class (empty: linear mode) and where each class's vectors start.
    per_class: Vec<usize>,
    starts: Vec<usize>,
    sv: Vec<f64>,
    features: usize,
    coef: Vec<f64>,
    rho: Vec<f64>,
    prob: Option<(Vec<f64>, Vec<f64>)>,
    post: Post,
    all_positive: bool,
}

pub fn build_classifier(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let Some(labels) = Labels::parse(cx, "classlabels")? else {
        bail!("SVMClassifier: classlabels_ints or classlabels_strings is required");
    };
    let c = labels.len();
    let per_class: Vec<usize> = cx
        .ints_opt("vectors_per_class")?
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            usize::try_from(v).map_err(|_| crate::Error::Invalid("SVMClassifier: negative vectors_per_class".into()))
        })
        .collect::<Result<_>>()?;
    let total: usize = per_class.iter().sum();
    let (sv, mut features) = support(cx, total)?;
    let coef = reals(cx, "coefficients")?;
    let rho = reals_opt(cx, "rho")?.unwrap_or_default();
    let pairs = c * c.saturating_sub(1) / 2;
    let pa = reals_opt(cx, "prob_a")?.unwrap_or_default();
    let pb = reals_opt(cx, "prob_b")?.unwrap_or_default();
    if c < 1 {
        bail!("SVMClassifier: no class labels");
    }
    if total > 0 {
        if per_class.len() != c {
            bail!("SVMClassifier: vectors_per_class has {} entries for {c} classes", per_class.len());
        }
        if coef.len() < (c - 1) * total || rho.len() < pairs {
            bail!("SVMClassifier: {} coefficients / {} rho for {c} classes and {total} vectors", coef.len(), rho.len());
        }
        if !pa.is_empty() && (pa.len() < pairs || pb.len() < pairs) {
            bail!("SVMClassifier: prob_a/prob_b need {pairs} values");
        }
    } else {
        if rho.is_empty() || coef.len() % c != 0 {
            bail!("SVMClassifier: linear mode needs rho and coefficients [{c}, F]");
        }
        features = coef.len() / c;
    }
    let mut starts = Vec::with_capacity(per_class.len());
    per_class.iter().fold(0, |s, &k| {
        starts.push(s);
        s + k
    });
    Ok(Arc::new(SvmClassifier {
        kernel: Kernel::parse(cx)?,
        labels,
        per_class,
        starts,
        sv,
        features,
        all_positive: coef.iter().all(|&v| v >= 0.0),
        coef,
        rho,
        prob: (!pa.is_empty()).then_some((pa, pb)),
        post: Post::parse(cx)?,
    }))
}

impl SvmClassifier {
    /// Scores and label index of one row.
    fn row(&self, x: &[f64]) -> (Vec<f64>, usize, Option<Second>) {
        let c = self.labels.len();
        let f = self.features;
        if self.per_class.is_empty() {
            let s: Vec<f64> = self.coef.chunks(f).map(|w| self.kernel.eval(x, w) + self.rho[0]).collect();
            let best = argmax(&s);
            let pick = if c == 2 && ((self.all_positive && s[best] >= 0.5) || (!self.all_positive && s[best] > 0.0)) {
                1
            } else {
                best
            };
            return (s, pick, None);
        }
        let total = self.sv.len() / f.max(1);
        let k: Vec<f64> = (0..total).map(|v| self.kernel.eval(x, &self.sv[v * f..(v + 1) * f])).collect();
        let mut votes = vec![0usize; c];
        let mut pair = Vec::with_capacity(c * (c - 1) / 2);
        for i in 0..c {
            for j in i + 1..c {
                let part = |row: usize, cls: usize| -> f64 {
                    let (s, n) = (self.starts[cls], self.per_class[cls]);
                    let w = &self.coef[row * total + s..row * total + s + n];
                    w.iter().zip(&k[s..s + n]).map(|(a, b)| a * b).sum()
                };
                let d = part(j - 1, i) + part(i, j) + self.rho[pair.len()];
                votes[if d > 0.0 { i } else { j }] += 1;
                pair.push(d);
            }
        }
        // The first class with the most votes.
        let mut pick = 0;
        for (i, &v) in votes.iter().enumerate() {
            if v > votes[pick] {
                pick = i;
            }
        }
        match &self.prob {
            Some((pa, pb)) => (coupled_probabilities(c, &pair, pa, pb), pick, None),
            None if c <= 2 => {
                (pair, pick, Some(if self.post == Post::None { Second::Negate } else { Second::Complement }))
            }
            None => (pair, pick, None),
        }
    }
}

/// Class probabilities from pairwise Platt probabilities (Wu, Lin & Weng 2004, method 2, the
/// fixed-point iteration libsvm uses: at most 100 rounds, stop when the error is below 0.005/k).
fn coupled_probabilities(k: usize, dec: &[f64], pa: &[f64], pb: &[f64]) -> Vec<f64> {
    let mut r = vec![0.0; k * k];
    let mut idx = 0;
    for i in 0..k {
        for j in i + 1..k {
            let p = (1.0 - logistic(dec[idx] * pa[idx] + pb[idx])).clamp(1e-7, 1.0 - 1e-7);
            r[i * k + j] = p;
            r[j * k + i] = 1.0 - p;
            idx += 1;
        }
    }
    let mut q = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            if i != j {
                q[i * k + i] += r[j * k + i] * r[j * k + i];
                q[i * k + j] = -r[j * k + i] * r[i * k + j];
            }
        }
    }
    let mut p = vec![1.0 / k as f64; k];
    let mut qp = vec![0.0; k];
    let eps = 0.005 / k as f64;
    for _ in 0..100 {
        let mut pqp = 0.0;
        for i in 0..k {
            qp[i] = (0..k).map(|j| q[i * k + j] * p[j]).sum();
            pqp += p[i] * qp[i];
        }
        if qp.iter().map(|v| (v - pqp).abs()).fold(0.0, f64::max) < eps {
            break;
        }
        for i in 0..k {
            let diff = (pqp - qp[i]) / q[i * k + i];
            p[i] += diff;
            pqp = (pqp + diff * (diff * q[i * k + i] + 2.0 * qp[i])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[i * k + j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
    p
}

impl Op for SvmClassifier {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(values_only("SVMClassifier"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = super::ml_common::tensor_input(inputs, "SVMClassifier")?;
        let (n, f, xv) = rows(x, "SVMClassifier")?;
        check_features("SVMClassifier", f, self.features)?;
        let mut picks = Vec::with_capacity(n);
        let mut out = Vec::new();
        let mut cols = 0;
        for row in xv.chunks(f.max(1)).take(n) {
            let (mut s, pick, second) = self.row(row);
            finish_row(&mut s, self.post, second);
            cols = s.len();
            picks.push(pick);
            out.extend(s);
        }
        Ok(vec![self.labels.output(&picks)?, Value::from(f32_matrix(n, cols, out)?)])
    }
}

#[derive(Debug)]
pub struct SvmRegressor {
    kernel: Kernel,
    sv: Vec<f64>,
    features: usize,
    coef: Vec<f64>,
    rho: f64,
    one_class: bool,
    post: Post,
}

pub fn build_regressor(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let n = cx.int("n_supports", 0)?;
    let n = usize::try_from(n).map_err(|_| crate::Error::Invalid("SVMRegressor: negative n_supports".into()))?;
    let (sv, mut features) = support(cx, n)?;
    let coef = reals(cx, "coefficients")?;
    let rho = reals_opt(cx, "rho")?.unwrap_or_default();
    let Some(&rho) = rho.first() else { bail!("SVMRegressor: rho is required") };
    if n > 0 && coef.len() < n {
        bail!("SVMRegressor: {} coefficients for {n} support vectors", coef.len());
    }
    if n == 0 {
        features = coef.len();
    }
    Ok(Arc::new(SvmRegressor {
        kernel: Kernel::parse(cx)?,
        sv,
        features,
        coef,
        rho,
        one_class: cx.int("one_class", 0)? != 0,
        post: Post::parse(cx)?,
    }))
}

impl Op for SvmRegressor {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (n, f, xv) = rows(input(inputs, 0, "SVMRegressor")?, "SVMRegressor")?;
        check_features("SVMRegressor", f, self.features)?;
        let mut out = Vec::with_capacity(n);
        for x in xv.chunks(f.max(1)).take(n) {
            let s = if self.sv.is_empty() {
                self.kernel.eval(x, &self.coef) + self.rho
            } else {
                let vs = self.sv.chunks(f.max(1));
                self.coef.iter().zip(vs).map(|(c, v)| c * self.kernel.eval(x, v)).sum::<f64>() + self.rho
            };
            let mut s = vec![if self.one_class {
                if s > 0.0 {
                    1.0
                } else {
                    -1.0
                }
            } else {
                s
            }];
            self.post.apply(&mut s);
            out.push(s[0]);
        }
        Ok(vec![f32_matrix(n, 1, out)?])
    }
}
