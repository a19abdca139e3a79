//! OneHotEncoder and FeatureVectorizer (ai.onnx.ml). OneHotEncoder: each element of `X` becomes a
//! float32 row over the categories (`cats_int64s`, or `cats_strings` for a string input), the
//! output `X.shape + [n_cats]`; an unknown value is all zeros, or an error when `zeros` is 0.
//! Numeric inputs are compared as int64 (ONNX Runtime truncates floats). FeatureVectorizer
//! concatenates its inputs' rows, each cut or zero-padded to its `inputdimensions` entry.

use super::ml_common::req_ints;
use crate::ops::{BuildCtx, ExecCtx, Op};
use crate::{bail, checked_numel, DType, Result, Tensor, Value};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug)]
pub struct OneHotEncoder {
    ints: HashMap<i64, usize>,
    strings: HashMap<String, usize>,
    n: usize,
    zeros: bool,
}

pub fn build_one_hot(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let (ints, strings, n) = match (cx.ints_opt("cats_int64s")?, cx.strings_opt("cats_strings")?) {
        (Some(c), None) => {
            let n = c.len();
            (c.into_iter().enumerate().map(|(i, v)| (v, i)).collect(), HashMap::new(), n)
        }
        (None, Some(c)) => {
            let n = c.len();
            (HashMap::new(), c.into_iter().enumerate().map(|(i, v)| (v, i)).collect(), n)
        }
        _ => bail!("OneHotEncoder: exactly one of cats_int64s and cats_strings is required"),
    };
    Ok(Arc::new(OneHotEncoder { ints, strings, n, zeros: cx.int("zeros", 1)? != 0 }))
}

impl OneHotEncoder {
    fn encode(&self, shape: &[usize], hits: impl Iterator<Item = Option<usize>>) -> Result<Tensor> {
        let mut oshape = shape.to_vec();
        oshape.push(self.n);
        checked_numel(&oshape, DType::F32, "OneHotEncoder output")?;
        let mut out = vec![0f32; oshape.iter().product()];
        for (i, h) in hits.enumerate() {
            match h {
                Some(c) => out[i * self.n + c] = 1.0,
                None if self.zeros => {}
                None => bail!("OneHotEncoder: a value is not among the categories and zeros is 0"),
            }
        }
        Tensor::from_vec(oshape, out)
    }
}

impl Op for OneHotEncoder {
    fn run(&self, _: &dyn ExecCtx, _: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Err(super::ml_common::values_only("OneHotEncoder"))
    }
    fn run_values(&self, _: &dyn ExecCtx, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let out = match inputs.first().copied().flatten() {
            Some(Value::Strings(s)) => self.encode(&s.shape, s.data.iter().map(|v| self.strings.get(v).copied()))?,
            Some(v) => {
                let x = v.as_tensor()?;
                let vals = if x.dtype().is_float() {
                    x.to_f64_vec().into_iter().map(|v| v as i64).collect()
                } else {
                    x.to_i64_vec()
                };
                self.encode(x.shape(), vals.iter().map(|v| self.ints.get(v).copied()))?
            }
            None => bail!("OneHotEncoder: input X is missing"),
        };
        Ok(vec![Value::from(out)])
    }
}

#[derive(Debug)]
pub struct FeatureVectorizer {
    dims: Vec<usize>,
}

pub fn build_feature_vectorizer(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let dims = req_ints(cx, "inputdimensions")?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| crate::Error::Invalid("FeatureVectorizer: negative dimension".into())))
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(FeatureVectorizer { dims }))
}

impl Op for FeatureVectorizer {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        if inputs.len() != self.dims.len() {
            bail!("FeatureVectorizer: {} inputs for {} inputdimensions", inputs.len(), self.dims.len());
        }
        let total: usize = self.dims.iter().sum();
        let mut n = None;
        let mut parts = Vec::with_capacity(inputs.len());
        for (i, t) in inputs.iter().enumerate() {
            let Some(t) = t else { bail!("FeatureVectorizer: input #{i} is missing") };
            let (rows, cols) = match t.shape() {
                [c] => (1, *c),
                [r, rest @ ..] => (*r, rest.iter().product()),
                [] => (1, 1),
            };
            if n.is_some_and(|n| n != rows) {
                bail!("FeatureVectorizer: inputs have different batch sizes");
            }
            n = Some(rows);
            parts.push((cols, t.to_f64_vec()));
        }
        let n = n.unwrap_or(1);
        checked_numel(&[n, total], DType::F32, "FeatureVectorizer output")?;
        let mut out = vec![0f32; n * total];
        for r in 0..n {
            let mut at = r * total;
            for ((cols, v), &d) in parts.iter().zip(&self.dims) {
                for (k, o) in out[at..at + d].iter_mut().enumerate().take(*cols) {
                    *o = v[r * cols + k] as f32;
                }
                at += d;
            }
        }
        Ok(vec![Tensor::from_vec(vec![n, total], out)?])
    }
}
