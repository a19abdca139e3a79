//! Pieces shared by the ai.onnx.ml classifiers and regressors: post transforms (with ONNX
//! Runtime's binary-case score layouts), class labels (int64 or string) and the attribute
//! forms (`name` floats or `name_as_tensor` doubles).

use crate::ops::BuildCtx;
use crate::value::StringTensor;
use crate::{bail, Error, Result, Tensor, Value};
use std::sync::Arc;

/// `post_transform` of the ml operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Post {
    None,
    Softmax,
    Logistic,
    SoftmaxZero,
    Probit,
}

impl Post {
    pub fn parse(cx: &BuildCtx) -> Result<Post> {
        Ok(match cx.string("post_transform", "NONE")?.as_str() {
            "NONE" => Post::None,
            "SOFTMAX" => Post::Softmax,
            "LOGISTIC" => Post::Logistic,
            "SOFTMAX_ZERO" => Post::SoftmaxZero,
            "PROBIT" => Post::Probit,
            p => bail!("{}: unknown post_transform '{p}'", cx.op_type),
        })
    }

    /// Transforms a row of two or more scores in place (a single score: only PROBIT applies).
    pub fn apply(self, s: &mut [f64]) {
        if s.len() == 1 {
            if self == Post::Probit {
                s[0] = probit(s[0]);
            }
            return;
        }
        match self {
            Post::None => {}
            Post::Probit => s.iter_mut().for_each(|v| *v = probit(*v)),
            Post::Logistic => s.iter_mut().for_each(|v| *v = logistic(*v)),
            Post::Softmax => {
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                s.iter_mut().for_each(|v| *v = (*v - m).exp());
                let sum: f64 = s.iter().sum();
                s.iter_mut().for_each(|v| *v /= sum);
            }
            Post::SoftmaxZero => {
                // Zeros stay (scaled by exp(-max)) and do not count in the sum.
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut sum = 0.0;
                for v in s.iter_mut() {
                    if v.abs() > 1e-7 {
                        *v = (*v - m).exp();
                        sum += *v;
                    } else {
                        *v *= (-m).exp();
                    }
                }
                s.iter_mut().for_each(|v| *v /= sum);
            }
        }
    }
}

pub fn logistic(v: f64) -> f64 {
    let e = 1.0 / (1.0 + (-v.abs()).exp());
    if v < 0.0 {
        1.0 - e
    } else {
        e
    }
}

/// sqrt(2) * erfinv(2p - 1) with the approximation ONNX Runtime uses (Winitzki, a = 0.147).
pub fn probit(p: f64) -> f64 {
    let x = 2.0 * p - 1.0;
    let sgn = if x < 0.0 { -1.0 } else { 1.0 };
    let w = (1.0 - x) * (1.0 + x);
    let l = w.ln();
    let a = 2.0 / (std::f64::consts::PI * 0.147) + 0.5 * l;
    std::f64::consts::SQRT_2 * sgn * (-a + (a * a - l / 0.147).sqrt()).sqrt()
}

/// How a single binary score becomes two columns (ONNX Runtime's `add_second_class`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Second {
    /// `[1 - s, s]` (probability-like scores).
    Complement,
    /// `[-s, s]`, or `[logistic(-s), logistic(s)]` under LOGISTIC.
    Negate,
}

/// Applies `post` to one row's scores, first widening a single score to two columns when
/// `second` says so (ONNX Runtime applies no other transform than PROBIT to a single score).
pub fn finish_row(scores: &mut Vec<f64>, post: Post, second: Option<Second>) {
    if scores.len() == 1 && post != Post::Probit {
        if let Some(how) = second {
            let s = scores[0];
            *scores = match (how, post) {
                (Second::Complement, _) => vec![1.0 - s, s],
                (Second::Negate, Post::Logistic) => vec![logistic(-s), logistic(s)],
                (Second::Negate, _) => vec![-s, s],
            };
            return;
        }
    }
    post.apply(scores);
}

/// Class labels of a classifier: `classlabels_ints`/`classlabels_int64s` or `classlabels_strings`.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Labels {
    /// Reads `<prefix>_strings` or `<prefix>_ints`/`<prefix>_int64s`; `None` when neither is given.
    pub fn parse(cx: &BuildCtx, prefix: &str) -> Result<Option<Labels>> {
        if let Some(s) = cx.strings_opt(&format!("{prefix}_strings"))? {
            return Ok(Some(Labels::Str(s)));
        }
        for suffix in ["ints", "int64s"] {
            if let Some(v) = cx.ints_opt(&format!("{prefix}_{suffix}"))? {
                return Ok(Some(Labels::Int(v)));
            }
        }
        Ok(None)
    }

    pub fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label output `[N]` for class indices; an index past the labels (a binary classifier
    /// without two labels) gives the index itself (or its text for string labels).
    pub fn output(&self, picks: &[usize]) -> Result<Value> {
        let n = picks.len();
        Ok(match self {
            Labels::Int(v) => {
                let data: Vec<i64> = picks.iter().map(|&i| v.get(i).copied().unwrap_or(i as i64)).collect();
                Value::from(Tensor::from_vec(vec![n], data)?)
            }
            Labels::Str(v) => {
                let data = picks.iter().map(|&i| v.get(i).cloned().unwrap_or_else(|| i.to_string())).collect();
                Value::Strings(Arc::new(StringTensor::new(vec![n], data)?))
            }
        })
    }
}

/// `name` as floats, or `name_as_tensor` (ml opset 3 doubles); `None` when neither is present.
pub fn reals_opt(cx: &BuildCtx, name: &str) -> Result<Option<Vec<f64>>> {
    if let Some(t) = cx.tensor_opt(&format!("{name}_as_tensor"))? {
        return Ok(Some(t.to_f64_vec()));
    }
    Ok(cx.floats_opt(name)?.map(|v| v.into_iter().map(f64::from).collect()))
}

/// Like [`reals_opt`] but required.
pub fn reals(cx: &BuildCtx, name: &str) -> Result<Vec<f64>> {
    reals_opt(cx, name)?.ok_or_else(|| Error::Attr { attr: name.into(), msg: "required attribute is missing".into() })
}

/// A required ints attribute.
pub fn req_ints(cx: &BuildCtx, name: &str) -> Result<Vec<i64>> {
    cx.ints_opt(name)?.ok_or_else(|| Error::Attr { attr: name.into(), msg: "required attribute is missing".into() })
}

/// The rows of a feature input: `[N, F]`, or `[F]` as one row; values as f64.
pub fn rows(x: &Tensor, op: &str) -> Result<(usize, usize, Vec<f64>)> {
    if x.dtype() == crate::DType::Bool {
        return Err(Error::UnsupportedDType { op: op.to_string(), dtype: x.dtype() });
    }
    let (n, f) = match x.shape() {
        [n, f] => (*n, *f),
        [f] => (1, *f),
        s => bail!("{op}: X must be 1-D or 2-D, got shape {s:?}"),
    };
    Ok((n, f, x.to_f64_vec()))
}

/// A float32 `[n, c]` tensor from f64 scores.
pub fn f32_matrix(n: usize, c: usize, data: Vec<f64>) -> Result<Tensor> {
    Tensor::from_vec(vec![n, c], data.into_iter().map(|v| v as f32).collect::<Vec<f32>>())
}

/// Index of the largest value (the first on ties), as ONNX Runtime picks classes.
pub fn argmax(s: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in s.iter().enumerate() {
        if v > s[best] {
            best = i;
        }
    }
    best
}

/// The error for a `run` call on an operator that only has `run_values` (string outputs).
pub fn values_only(op: &str) -> Error {
    Error::Invalid(format!("{op}: runs on values (its label output may be a string tensor)"))
}

/// Input #0 of a values-level operator, which must be a tensor.
pub fn tensor_input<'a>(inputs: &[Option<&'a Value>], op: &str) -> Result<&'a Tensor> {
    match inputs.first().copied().flatten() {
        Some(v) => v.as_tensor().map_err(|e| Error::Invalid(format!("{op}: input X: {e}"))),
        None => bail!("{op}: input X is missing"),
    }
}
