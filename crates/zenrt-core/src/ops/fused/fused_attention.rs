//! `com.zenrt.FusedAttention`: scaled dot-product attention as exporters write it unfused,
//! `Y = Softmax(MatMul(Q, Kt) * scale + mask, axis=-1) @ V`, with numpy matmul/broadcast
//! semantics. Inputs: `Q [.., S, D]`, `Kt [.., D, T]` (the keys already transposed, as the
//! exported graph has them), `V [.., T, Dv]`, optional additive `mask` (broadcast to the scores'
//! shape `[.., S, T]`, which it must not enlarge). Attribute `scale` (float, default 1).
//!
//! The reference computes the scores with the shared matmul, scales and masks them in the input
//! type, normalizes each row (max-subtracted exponentials, sum in f64) and multiplies by `V`.

use crate::ops::linalg::matmul::{matmul, matmul_shape};
use crate::ops::util::{broadcast_index_map, broadcast_shapes};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, DType, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct FusedAttention {
    pub scale: f32,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(FusedAttention { scale: cx.float("scale", 1.0)? }))
}

/// Scales, masks and row-normalizes `v` (rows of `t` elements) in place.
fn scale_mask_softmax(v: &mut [f64], t: usize, scale: f64, mask: Option<(&[f64], &[usize])>) {
    if let Some((m, map)) = mask {
        for (k, x) in v.iter_mut().enumerate() {
            *x = *x * scale + m[map[k]];
        }
    } else if scale != 1.0 {
        v.iter_mut().for_each(|x| *x *= scale);
    }
    softmax_rows(v, t);
}

fn softmax_rows(v: &mut [f64], t: usize) {
    if t == 0 {
        return;
    }
    for row in v.chunks_exact_mut(t) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for x in row.iter_mut() {
            *x = (*x - max).exp();
            sum += *x;
        }
        row.iter_mut().for_each(|x| *x /= sum);
    }
}

impl FusedAttention {
    /// f32 probabilities as the unfused graph computes them: `score · scale + mask` rounded to
    /// f32 (each mask row found once per score row, its last dim 1 or `t`), then the f32
    /// Softmax op's vector row kernel (max, `exp(x − max)` with its sum, one division), rows
    /// split over the pool when large.
    fn probs_f32(&self, scores: Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let shape = scores.shape().to_vec();
        let (rank, t) = (shape.len(), shape[shape.len() - 1]);
        let mut s = scores.into_vec::<f32>()?;
        let sc = self.scale;
        if let Some(m) = mask {
            ensure!(m.dtype() == DType::F32, "FusedAttention: mask dtype {} differs from f32", m.dtype());
            let b = broadcast_shapes(&shape, m.shape())?;
            ensure!(b == shape, "FusedAttention: mask shape {:?} enlarges the scores {:?}", m.shape(), shape);
            let mut mshape = vec![1; rank - m.rank()];
            mshape.extend_from_slice(m.shape());
            let mt = mshape[rank - 1];
            let rowmap = broadcast_index_map(&mshape[..rank - 1], &shape[..rank - 1]);
            let mv = m.as_slice::<f32>()?;
            if t > 0 {
                for (row, &mr) in s.chunks_exact_mut(t).zip(&rowmap) {
                    let mrow = &mv[mr * mt..(mr + 1) * mt];
                    if mt == 1 {
                        row.iter_mut().for_each(|x| *x = *x * sc + mrow[0]);
                    } else {
                        row.iter_mut().zip(mrow).for_each(|(x, &a)| *x = *x * sc + a);
                    }
                }
            }
        } else if sc != 1.0 {
            s.iter_mut().for_each(|x| *x *= sc);
        }
        let mut out = crate::memory::alloc_for_overwrite::<f32>(s.len());
        crate::simd::par::for_rows(&mut out, t, |r, y| {
            let row = &s[r * t..(r + 1) * t];
            let mx = crate::simd::max(row);
            let sum = crate::simd::exp_sub_sum(row, mx, y);
            crate::simd::binary_vs_inplace(crate::simd::BinFn::Div, y, sum);
        });
        Tensor::from_vec(shape, out)
    }
}

impl Op for FusedAttention {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (q, kt, v) = (
            input(inputs, 0, "FusedAttention")?,
            input(inputs, 1, "FusedAttention")?,
            input(inputs, 2, "FusedAttention")?,
        );
        let dtype = q.dtype();
        if !dtype.is_float() {
            return Err(Error::UnsupportedDType { op: "FusedAttention".into(), dtype });
        }
        let scores = matmul(q, kt)?;
        let shape = scores.shape().to_vec();
        ensure!(!shape.is_empty(), "FusedAttention: scores must have at least one dimension");
        let t = shape[shape.len() - 1];
        let mask = opt_input(inputs, 3);
        if dtype == DType::F32 {
            let probs = self.probs_f32(scores, mask)?;
            return Ok(vec![matmul(&probs, v)?]);
        }
        let map;
        let mvals;
        let mask_arg = match mask {
            Some(m) => {
                ensure!(m.dtype() == dtype, "FusedAttention: mask dtype {} differs from {dtype}", m.dtype());
                let b = broadcast_shapes(&shape, m.shape())?;
                ensure!(b == shape, "FusedAttention: mask shape {:?} enlarges the scores {:?}", m.shape(), shape);
                map = broadcast_index_map(m.shape(), &shape);
                mvals = m.to_f64_vec();
                Some((mvals.as_slice(), map.as_slice()))
            }
            None => None,
        };
        let mut s = scores.to_f64_vec();
        scale_mask_softmax(&mut s, t, self.scale as f64, mask_arg);
        let probs = Tensor::from_vec(shape, s)?.cast(dtype)?;
        Ok(vec![matmul(&probs, v)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let info = |i: usize| inputs.get(i).and_then(|x| x.info);
        let (Some(q), Some(kt), Some(v)) = (info(0), info(1), info(2)) else { return Ok(vec![]) };
        let s = matmul_shape(q.shape.as_deref(), kt.shape.as_deref());
        let shape = matmul_shape(s.as_deref(), v.shape.as_deref());
        Ok(vec![ValueInfo::new("", q.dtype, shape)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoCtx;
    impl ExecCtx for NoCtx {
        fn run_subgraph_values(&self, _: &Arc<crate::Graph>, _: Vec<crate::Value>) -> Result<Vec<crate::Value>> {
            unreachable!()
        }
    }

    /// The f32 path on batched heads (`[2, 3, s, d]`), rows longer than a vector (t = 37), and
    /// masks of every broadcast form (BERT's `[b, 1, 1, t]` with a very negative entry, a
    /// per-query `[s, t]`, a scalar-like `[1]`, none), against f64 softmax(q·k·scale + mask)·v.
    #[test]
    fn f32_heads_and_masks_match_f64() {
        let (b, h, s, d, t, dv) = (2, 3, 5, 4, 37, 3);
        let f = |n: usize, k: f64| (0..n).map(|i| (i as f64 * 0.731 + k).sin() * 2.0).collect::<Vec<f64>>();
        let (qv, kv, vv) = (f(b * h * s * d, 0.1), f(b * h * d * t, 0.7), f(b * h * t * dv, 1.3));
        let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let q = Tensor::from_vec(vec![b, h, s, d], to32(&qv)).unwrap();
        let kt = Tensor::from_vec(vec![b, h, d, t], to32(&kv)).unwrap();
        let v = Tensor::from_vec(vec![b, h, t, dv], to32(&vv)).unwrap();
        let mut bert = f(b * t, 2.0);
        bert[3] = -3.4e38;
        let masks: Vec<Option<(Vec<usize>, Vec<f64>)>> =
            vec![Some((vec![b, 1, 1, t], bert)), Some((vec![s, t], f(s * t, 0.4))), Some((vec![1], vec![0.3])), None];
        for mask in masks {
            let mt = mask.as_ref().map(|(sh, mv)| Tensor::from_vec(sh.clone(), to32(mv)).unwrap());
            let op = FusedAttention { scale: 0.35 };
            let y = op.run(&NoCtx, &[Some(&q), Some(&kt), Some(&v), mt.as_ref()]).unwrap().remove(0);
            assert_eq!(y.shape(), &[b, h, s, dv]);
            let y = y.to_f64_vec();
            for (bh, i) in (0..b * h).flat_map(|bh| (0..s).map(move |i| (bh, i))) {
                let mval = |j: usize| match &mask {
                    Some((sh, mv)) if sh.len() == 4 => mv[(bh / h) * t + j],
                    Some((sh, mv)) if sh.len() == 2 => mv[i * t + j],
                    Some((_, mv)) => mv[0],
                    None => 0.0,
                };
                let sc: Vec<f64> = (0..t)
                    .map(|j| {
                        let dot: f64 = (0..d).map(|k| qv[(bh * s + i) * d + k] * kv[(bh * d + k) * t + j]).sum();
                        dot * 0.35 + mval(j).max(-1e30)
                    })
                    .collect();
                let mx = sc.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = sc.iter().map(|x| (x - mx).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in 0..dv {
                    let want: f64 = (0..t).map(|j| e[j] / sum * vv[(bh * t + j) * dv + c]).sum();
                    let got = y[(bh * s + i) * dv + c];
                    assert!((got - want).abs() < 1e-5, "{mask:?} {bh},{i},{c}: {got} vs {want}");
                }
            }
        }
    }

    /// Against a direct f64 evaluation of softmax(q·k·scale + mask)·v.
    #[test]
    fn matches_f64_reference() {
        let (s, d, t) = (3, 4, 5);
        let f = |n: usize, k: f64| (0..n).map(|i| (i as f64 * 0.37 + k).sin()).collect::<Vec<f64>>();
        let (qv, kv, vv, mv) = (f(s * d, 0.1), f(d * t, 0.7), f(t * 2, 1.3), f(t, 2.0));
        let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let q = Tensor::from_vec(vec![1, s, d], to32(&qv)).unwrap();
        let kt = Tensor::from_vec(vec![1, d, t], to32(&kv)).unwrap();
        let v = Tensor::from_vec(vec![1, t, 2], to32(&vv)).unwrap();
        let m = Tensor::from_vec(vec![1, 1, t], to32(&mv)).unwrap();
        let op = FusedAttention { scale: 0.5 };
        let y = op.run(&NoCtx, &[Some(&q), Some(&kt), Some(&v), Some(&m)]).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, s, 2]);
        let y = y.to_f64_vec();
        for i in 0..s {
            let mut row: Vec<f64> =
                (0..t).map(|j| (0..d).map(|k| qv[i * d + k] * kv[k * t + j]).sum::<f64>() * 0.5 + mv[j]).collect();
            let mx = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = row
                .iter_mut()
                .map(|x| {
                    *x = (*x - mx).exp();
                    *x
                })
                .sum();
            for c in 0..2 {
                let want: f64 = (0..t).map(|j| row[j] / sum * vv[j * 2 + c]).sum();
                assert!((y[i * 2 + c] - want).abs() < 1e-5, "{i},{c}: {} vs {want}", y[i * 2 + c]);
            }
        }
    }
}
