//! TfIdfVectorizer: counts the n-grams of a pool (`pool_int64s`, grouped by size through
//! `ngram_counts`) in each row of an integer input `[C]` or `[B, C]`, allowing up to
//! `max_skip_count` skipped items between the elements of an n-gram, for n-gram sizes in
//! `[min_gram_length, max_gram_length]`. Unigrams are counted once (skips do not apply to
//! them). Output `[max(ngram_indexes) + 1]` or `[B, ...]` float32, weighted by `mode`: TF
//! (counts), IDF (`weights[i]` or 1 where the count is non-zero), TFIDF (`weights[i] * count`).
//! String pools are unsupported (zenrt has no string tensors).

use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, Error, Result, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Tf,
    Idf,
    TfIdf,
}

#[derive(Debug)]
pub struct TfIdfVectorizer {
    mode: Mode,
    min_n: usize,
    max_n: usize,
    max_skip: usize,
    /// n-gram -> output column.
    grams: HashMap<Vec<i64>, usize>,
    out_size: usize,
    weights: Option<Vec<f64>>,
}

fn req_int(cx: &BuildCtx, name: &str) -> Result<usize> {
    let v = cx.req_int(name)?;
    usize::try_from(v).map_err(|_| Error::Attr { attr: name.into(), msg: format!("must be non-negative, got {v}") })
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    if cx.has("pool_strings") {
        return Err(Error::Unsupported("TfIdfVectorizer with a string pool".into()));
    }
    let mode = match cx.string_opt("mode")?.as_deref() {
        Some("TF") => Mode::Tf,
        Some("IDF") => Mode::Idf,
        Some("TFIDF") => Mode::TfIdf,
        m => bail!("TfIdfVectorizer: bad mode {m:?}"),
    };
    let min_n = req_int(cx, "min_gram_length")?;
    let max_n = req_int(cx, "max_gram_length")?;
    let max_skip = req_int(cx, "max_skip_count")?;
    if min_n < 1 || max_n < min_n {
        bail!("TfIdfVectorizer: bad gram lengths {min_n}..{max_n}");
    }
    let pool = cx.ints_opt("pool_int64s")?.unwrap_or_default();
    let counts = cx.ints_opt("ngram_counts")?.unwrap_or_default();
    let indexes = cx.ints_opt("ngram_indexes")?.unwrap_or_default();
    if indexes.iter().any(|&i| i < 0) {
        bail!("TfIdfVectorizer: negative ngram index");
    }
    let out_size = indexes.iter().copied().max().map_or(0, |m| m as usize + 1);
    let weights = cx.floats_opt("weights")?.map(|w| w.into_iter().map(|v| v as f64).collect::<Vec<f64>>());
    if let Some(w) = &weights {
        if !w.is_empty() && w.len() < out_size {
            bail!("TfIdfVectorizer: {} weights for {out_size} outputs", w.len());
        }
    }
    let mut grams = HashMap::new();
    let mut id = 0usize; // running n-gram number across all sizes
    for (i, &start) in counts.iter().enumerate() {
        let n = i + 1;
        let end = counts.get(i + 1).copied().unwrap_or(pool.len() as i64);
        if start < 0 || end < start || end as usize > pool.len() {
            bail!("TfIdfVectorizer: bad ngram_counts {counts:?} for a pool of {}", pool.len());
        }
        let items = &pool[start as usize..end as usize];
        for g in items.chunks_exact(n) {
            if n >= min_n && n <= max_n {
                let Some(&col) = indexes.get(id) else {
                    bail!("TfIdfVectorizer: ngram_indexes has no entry for n-gram #{id}");
                };
                grams.insert(g.to_vec(), col as usize);
            }
            id += 1;
        }
    }
    Ok(Arc::new(TfIdfVectorizer { mode, min_n, max_n, max_skip, grams, out_size, weights }))
}

impl TfIdfVectorizer {
    fn count_row(&self, row: &[i64], freq: &mut [u64]) {
        let len = row.len();
        let mut start_n = self.min_n;
        let mut gram = Vec::with_capacity(self.max_n);
        for d in 1..=self.max_skip + 1 {
            for s in 0..len {
                if s + d * (start_n - 1) >= len {
                    break;
                }
                gram.clear();
                for n in 1..=self.max_n {
                    let p = s + (n - 1) * d;
                    if p >= len {
                        break;
                    }
                    gram.push(row[p]);
                    if n >= start_n {
                        if let Some(&col) = self.grams.get(&gram) {
                            freq[col] += 1;
                        }
                    }
                }
            }
            if start_n == 1 {
                start_n = 2;
                if start_n > self.max_n {
                    break;
                }
            }
        }
    }
}

impl Op for TfIdfVectorizer {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "TfIdfVectorizer")?;
        if !x.dtype().is_int() {
            return Err(Error::UnsupportedDType { op: "TfIdfVectorizer".into(), dtype: x.dtype() });
        }
        let (rows, c, shape) = match x.shape() {
            [] => (1, 1, vec![self.out_size]),
            [c] => (1, *c, vec![self.out_size]),
            [b, c] => (*b, *c, vec![*b, self.out_size]),
            s => bail!("TfIdfVectorizer: input must be [C] or [B, C], got {s:?}"),
        };
        crate::checked_numel(&shape, crate::DType::F32, "TfIdfVectorizer output")?;
        let xv = x.to_i64_vec();
        let mut freq = vec![0u64; rows * self.out_size];
        for r in 0..rows {
            self.count_row(&xv[r * c..(r + 1) * c], &mut freq[r * self.out_size..(r + 1) * self.out_size]);
        }
        let w = self.weights.as_ref().filter(|w| !w.is_empty());
        let out: Vec<f32> = freq
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                let col = i % self.out_size.max(1);
                let f = f as f64;
                (match (self.mode, w) {
                    (Mode::Tf, _) => f,
                    (Mode::Idf, Some(w)) => {
                        if f > 0.0 {
                            w[col]
                        } else {
                            0.0
                        }
                    }
                    (Mode::Idf, None) => {
                        if f > 0.0 {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    (Mode::TfIdf, Some(w)) => w[col] * f,
                    (Mode::TfIdf, None) => f,
                }) as f32
            })
            .collect();
        Ok(vec![Tensor::from_vec(shape, out)?])
    }
}
