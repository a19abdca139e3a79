//! Attention (opset 23+): scaled dot-product attention with 3-D (`[B, S, H·D]`) or 4-D
//! (`[B, H, S, D]`) inputs, multi/grouped/multi-query heads, boolean or additive `attn_mask`,
//! offset-aware causal masking, past/present key-value cache, external cache lengths
//! (`nonpad_kv_seqlen`, opset 24), sliding windows (opset 25), softcap, `softmax_precision`
//! and the optional `qk_matmul_output` (modes 0-3).
//!
//! Computation follows the ONNX reference: Q and K are each scaled by `sqrt(scale)` (rounded to
//! the input type), the bias (mask + causal + window + padding) is added after the softcap, a
//! query row whose bias is entirely `-inf` yields zero probabilities. Values are computed in f64
//! and rounded to the input type (or the softmax precision) after each step, like numpy does.

use super::common::{permute, round_to, tensor_from_f64, GemmElem, MatView};
use crate::ops::util::broadcast_index_map;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, checked_numel, DType, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct Attention {
    pub is_causal: bool,
    pub q_num_heads: Option<usize>,
    pub kv_num_heads: Option<usize>,
    pub qk_matmul_output_mode: i64,
    pub scale: Option<f32>,
    pub softcap: f32,
    pub softmax_precision: Option<DType>,
    pub left_window: i64,
    pub right_window: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let heads = |name: &str| -> Result<Option<usize>> {
        match cx.int_opt(name)? {
            None => Ok(None),
            Some(h) if h > 0 => Ok(Some(h as usize)),
            Some(h) => Err(Error::Attr { attr: name.into(), msg: format!("must be positive, got {h}") }),
        }
    };
    let softmax_precision = match cx.int_opt("softmax_precision")? {
        None => None,
        Some(code) => match DType::from_onnx_code(code as i32) {
            Some(d) if d.is_float() => Some(d),
            _ => {
                return Err(Error::Attr {
                    attr: "softmax_precision".into(),
                    msg: format!("type {code} is not supported"),
                })
            }
        },
    };
    let mode = cx.int("qk_matmul_output_mode", 0)?;
    if !(0..=3).contains(&mode) {
        return Err(Error::Attr { attr: "qk_matmul_output_mode".into(), msg: format!("must be 0..3, got {mode}") });
    }
    let left_window = cx.int("left_window_size", -1)?;
    let right_window = cx.int("right_window_size", -1)?;
    if left_window < -1 || right_window < -1 {
        return Err(Error::Attr {
            attr: "left_window_size".into(),
            msg: "window sizes must be -1 or nonnegative".into(),
        });
    }
    Ok(Arc::new(Attention {
        is_causal: cx.int("is_causal", 0)? != 0,
        q_num_heads: heads("q_num_heads")?,
        kv_num_heads: heads("kv_num_heads")?,
        qk_matmul_output_mode: mode,
        scale: cx.float_opt("scale")?,
        softcap: cx.float("softcap", 0.0)?,
        softmax_precision,
        left_window,
        right_window,
    }))
}

/// A 4-D `[B, H, S, D]` tensor as f64.
struct Bhsd {
    shape: [usize; 4],
    data: Vec<f64>,
}

/// Converts a 3-D `[B, S, H·D]` or 4-D `[B, H, S, D]` tensor to 4-D `[B, H, S, D]`.
fn to_bhsd(t: &Tensor, heads: Option<usize>, what: &str) -> Result<Bhsd> {
    let s = t.shape();
    match s.len() {
        4 => Ok(Bhsd { shape: [s[0], s[1], s[2], s[3]], data: t.to_f64_vec() }),
        3 => {
            let Some(h) = heads else { bail!("Attention: 3-D {what} needs q_num_heads and kv_num_heads") };
            if !s[2].is_multiple_of(h) {
                return Err(Error::Shape(format!(
                    "Attention: {what} hidden size {} is not divisible by {h} heads",
                    s[2]
                )));
            }
            let d = s[2] / h;
            let (_, data) = permute(&t.to_f64_vec(), &[s[0], s[1], h, d], &[0, 2, 1, 3]);
            Ok(Bhsd { shape: [s[0], h, s[1], d], data })
        }
        r => Err(Error::Shape(format!("Attention: {what} must be 3-D or 4-D, got rank {r}"))),
    }
}

/// Concatenates `past` and `cur` along the sequence axis.
fn concat_seq(past: &Bhsd, cur: &Bhsd, what: &str) -> Result<Bhsd> {
    let [b, h, p, d] = past.shape;
    let [b2, h2, s, d2] = cur.shape;
    if b != b2 || h != h2 || d != d2 {
        return Err(Error::Shape(format!(
            "Attention: past_{what} {:?} does not match {what} {:?}",
            past.shape, cur.shape
        )));
    }
    let mut data = Vec::with_capacity(b * h * (p + s) * d);
    for bh in 0..b * h {
        data.extend_from_slice(&past.data[bh * p * d..(bh + 1) * p * d]);
        data.extend_from_slice(&cur.data[bh * s * d..(bh + 1) * s * d]);
    }
    Ok(Bhsd { shape: [b, h, p + s, d], data })
}

impl Attention {
    /// The additive bias `[B, Hq, Sq, Skv]` (None when there is none).
    #[allow(clippy::too_many_arguments)]
    fn bias(
        &self,
        t: DType,
        mask: Option<&Tensor>,
        nonpad: Option<&[i64]>,
        past_len: Option<usize>,
        b: usize,
        hq: usize,
        sq: usize,
        skv: usize,
    ) -> Result<Option<Vec<f64>>> {
        let window = self.left_window >= 0 || self.right_window >= 0;
        if mask.is_none() && !self.is_causal && nonpad.is_none() && !window {
            return Ok(None);
        }
        let full = [b, hq, sq, skv];
        let n = checked_numel(&full, DType::F64, "Attention bias")?;
        let mut bias = vec![0f64; n];
        if let Some(m) = mask {
            let ms = m.shape();
            if ms.is_empty() || ms.len() > 4 {
                return Err(Error::Shape(format!("Attention: attn_mask must have rank 1..4, got {ms:?}")));
            }
            let mlast = ms[ms.len() - 1];
            if mlast > skv {
                return Err(Error::Shape(format!("Attention: attn_mask last dim {mlast} exceeds kv length {skv}")));
            }
            let is_bool = m.dtype() == DType::Bool;
            let raw = m.to_f64_vec();
            // Pad the last axis to skv (-inf / False), converting booleans to 0 / -inf.
            let rows = raw.len() / mlast.max(1);
            let mut padded = Vec::with_capacity(rows * skv);
            for r in 0..rows {
                for j in 0..skv {
                    let v = if j < mlast {
                        raw[r * mlast + j]
                    } else if is_bool {
                        0.0
                    } else {
                        f64::NEG_INFINITY
                    };
                    padded.push(if is_bool {
                        if v != 0.0 {
                            0.0
                        } else {
                            f64::NEG_INFINITY
                        }
                    } else {
                        round_to(t, v)
                    });
                }
            }
            let mut mshape = vec![1usize; 4 - ms.len()];
            mshape.extend_from_slice(ms);
            mshape[3] = skv;
            for (i, (&d, &f)) in mshape.iter().zip(&full).enumerate() {
                if d != 1 && d != f {
                    return Err(Error::Shape(format!(
                        "Attention: attn_mask {ms:?} cannot broadcast to {full:?} (axis {i})"
                    )));
                }
            }
            if rows * skv > 0 {
                for (o, &i) in bias.iter_mut().zip(&broadcast_index_map(&mshape, &full)) {
                    *o = padded[i];
                }
            }
        }
        if let Some(np) = nonpad {
            if np.len() != b {
                return Err(Error::Shape(format!(
                    "Attention: nonpad_kv_seqlen has {} entries for batch {b}",
                    np.len()
                )));
            }
        }
        // Offset of the query block: past length, or nonpad - sq per batch, or 0.
        let offset = |bi: usize| -> i64 {
            match (past_len, nonpad) {
                (Some(p), _) => p as i64,
                (None, Some(np)) => np[bi] - sq as i64,
                _ => 0,
            }
        };
        for bi in 0..b {
            let off = offset(bi);
            for h in 0..hq {
                for i in 0..sq {
                    let row = &mut bias[((bi * hq + h) * sq + i) * skv..][..skv];
                    for (j, x) in row.iter_mut().enumerate() {
                        let diff = i as i64 + off - j as i64;
                        let mut allowed = true;
                        if self.is_causal && diff < 0 {
                            allowed = false;
                        }
                        if self.left_window >= 0 && diff > self.left_window {
                            allowed = false;
                        }
                        if self.right_window >= 0 && -diff > self.right_window {
                            allowed = false;
                        }
                        if let Some(np) = nonpad {
                            if j as i64 >= np[bi] {
                                allowed = false;
                            }
                        }
                        if !allowed {
                            *x = f64::NEG_INFINITY;
                        }
                    }
                }
            }
        }
        Ok(Some(bias))
    }
}

/// NaN-propagating maximum (like `np.max`).
fn nan_max(v: &[f64]) -> f64 {
    let mut m = f64::NEG_INFINITY;
    for &x in v {
        if x.is_nan() {
            return f64::NAN;
        }
        if x > m {
            m = x;
        }
    }
    m
}

impl Op for Attention {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let q_t = input(inputs, 0, "Attention")?;
        let k_t = input(inputs, 1, "Attention")?;
        let v_t = input(inputs, 2, "Attention")?;
        let mask = opt_input(inputs, 3);
        let past_k = opt_input(inputs, 4);
        let past_v = opt_input(inputs, 5);
        let nonpad = opt_input(inputs, 6).map(|t| t.to_i64_vec());
        let t = q_t.dtype();
        if !t.is_float() || !k_t.dtype().is_float() || !v_t.dtype().is_float() {
            return Err(Error::UnsupportedDType { op: "Attention".into(), dtype: t });
        }
        if q_t.rank() != k_t.rank() || q_t.rank() != v_t.rank() {
            bail!("Attention: Q, K and V must have the same rank");
        }
        if past_k.is_some() != past_v.is_some() {
            bail!("Attention: past_key and past_value must be given together");
        }
        if nonpad.is_some() && past_k.is_some() {
            bail!("Attention: nonpad_kv_seqlen cannot be combined with past_key/past_value");
        }
        let input_3d = q_t.rank() == 3;
        let q = to_bhsd(q_t, self.q_num_heads, "Q")?;
        let mut k = to_bhsd(k_t, self.kv_num_heads, "K")?;
        let mut v = to_bhsd(v_t, self.kv_num_heads, "V")?;
        let past_len = match (past_k, past_v) {
            (Some(pk), Some(pv)) => {
                if pk.rank() != 4 || pv.rank() != 4 {
                    bail!("Attention: past_key and past_value must be 4-D");
                }
                k = concat_seq(&to_bhsd(pk, None, "past_key")?, &k, "key")?;
                v = concat_seq(&to_bhsd(pv, None, "past_value")?, &v, "value")?;
                Some(pk.shape()[2])
            }
            _ => None,
        };
        let [b, hq, sq, dq] = q.shape;
        let [bk, hk, skv, dk] = k.shape;
        let [bv, hv, sv, dv] = v.shape;
        if bk != b || bv != b || dk != dq || sv != skv || hv != hk {
            return Err(Error::Shape(format!(
                "Attention: incompatible Q {:?}, K {:?}, V {:?}",
                q.shape, k.shape, v.shape
            )));
        }
        if hk == 0 || hq % hk != 0 {
            return Err(Error::Shape(format!("Attention: {hq} query heads are not a multiple of {hk} kv heads")));
        }
        let group = hq / hk;
        // Scale Q and K by sqrt(scale), rounded to T.
        let scale = self.scale.map(|s| s as f64).unwrap_or(1.0 / (dq as f64).sqrt());
        let sqrt_s = round_to(t, scale.sqrt());
        let qs: Vec<f64> = q.data.iter().map(|&x| round_to(t, x * sqrt_s)).collect();
        let ks: Vec<f64> = k.data.iter().map(|&x| round_to(t, x * sqrt_s)).collect();
        let bias = self.bias(t, mask, nonpad.as_deref(), past_len, b, hq, sq, skv)?;
        let p = self.softmax_precision.unwrap_or(t);
        let want_qk = self.qk_matmul_output_mode;
        let n_scores = checked_numel(&[b, hq, sq, skv], DType::F64, "Attention scores")?;
        let mut qk_out = vec![0f64; n_scores];
        let mut y = vec![0f64; checked_numel(&[b, hq, sq, dv], DType::F64, "Attention output")?];
        let mut scores = vec![0f64; sq * skv];
        let mut probs = vec![0f64; sq * skv];
        for bi in 0..b {
            for h in 0..hq {
                let kh = h / group;
                let qoff = (bi * hq + h) * sq * dq;
                let koff = (bi * hk + kh) * skv * dk;
                f64::gemm(
                    sq,
                    skv,
                    dq,
                    &qs,
                    MatView::row_major(qoff, dq),
                    &ks,
                    MatView::transposed(koff, dk),
                    &mut scores,
                )?;
                let soff = (bi * hq + h) * sq * skv;
                for i in 0..sq {
                    let row = &mut scores[i * skv..(i + 1) * skv];
                    let out_row = &mut qk_out[soff + i * skv..soff + (i + 1) * skv];
                    for (x, o) in row.iter_mut().zip(out_row.iter_mut()) {
                        *x = round_to(t, *x);
                        if want_qk == 0 {
                            *o = *x;
                        }
                        if self.softcap > 0.0 {
                            let c = round_to(t, self.softcap as f64);
                            *x = round_to(t, round_to(t, round_to(t, *x / c).tanh()) * c);
                        }
                        if want_qk == 1 {
                            *o = *x;
                        }
                    }
                    let brow = bias.as_ref().map(|bv| &bv[soff + i * skv..soff + (i + 1) * skv]);
                    if let Some(br) = brow {
                        for (x, &bb) in row.iter_mut().zip(br) {
                            *x = round_to(t, *x + bb);
                        }
                    }
                    if want_qk == 2 {
                        out_row.copy_from_slice(row);
                    }
                    // Softmax in precision p.
                    let prow = &mut probs[i * skv..(i + 1) * skv];
                    for (d, &x) in prow.iter_mut().zip(row.iter()) {
                        *d = round_to(p, x);
                    }
                    let mx = nan_max(prow);
                    let safe = if mx == f64::NEG_INFINITY { 0.0 } else { mx };
                    let mut sum = 0.0;
                    for d in prow.iter_mut() {
                        *d = round_to(p, round_to(p, *d - safe).exp());
                        // numpy sums bfloat16 (ml_dtypes) sequentially, rounding every step.
                        sum = if p == DType::BF16 { round_to(p, sum + *d) } else { sum + *d };
                    }
                    let sum = round_to(p, sum);
                    let sum = if sum == 0.0 { 1.0 } else { sum };
                    let fully_masked = brow.is_some_and(|br| nan_max(br) == f64::NEG_INFINITY);
                    for d in prow.iter_mut() {
                        *d = if fully_masked { 0.0 } else { round_to(t, round_to(p, *d / sum)) };
                    }
                    if want_qk == 3 {
                        out_row.copy_from_slice(prow);
                    }
                }
                let voff = (bi * hk + kh) * skv * dv;
                let yoff = (bi * hq + h) * sq * dv;
                f64::gemm(
                    sq,
                    dv,
                    skv,
                    &probs,
                    MatView::row_major(0, skv),
                    &v.data,
                    MatView::row_major(voff, dv),
                    &mut y[yoff..yoff + sq * dv],
                )?;
            }
        }
        let y: Vec<f64> = y.into_iter().map(|x| round_to(t, x)).collect();
        let y_t = if input_3d {
            let (_, d) = permute(&y, &[b, hq, sq, dv], &[0, 2, 1, 3]);
            tensor_from_f64(t, vec![b, sq, hq * dv], d)?
        } else {
            tensor_from_f64(t, vec![b, hq, sq, dv], y)?
        };
        let present_k = tensor_from_f64(k_t.dtype(), k.shape.to_vec(), k.data)?;
        let present_v = tensor_from_f64(v_t.dtype(), v.shape.to_vec(), v.data)?;
        let qk_t = tensor_from_f64(t, vec![b, hq, sq, skv], qk_out)?;
        Ok(vec![y_t, present_k, present_v, qk_t])
    }
}
