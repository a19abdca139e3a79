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
        let probs = if dtype == DType::F32 {
            // Round the masked scores to f32 like the unfused graph does before its Softmax.
            let mut s = scores.to_f64_vec();
            if let Some((m, map)) = mask_arg {
                let sc = self.scale;
                for (k, x) in s.iter_mut().enumerate() {
                    *x = ((*x as f32 * sc) + m[map[k]] as f32) as f64;
                }
            } else if self.scale != 1.0 {
                s.iter_mut().for_each(|x| *x = (*x as f32 * self.scale) as f64);
            }
            softmax_rows(&mut s, t);
            Tensor::from_vec(shape, s.into_iter().map(|x| x as f32).collect::<Vec<f32>>())?
        } else {
            let mut s = scores.to_f64_vec();
            scale_mask_softmax(&mut s, t, self.scale as f64, mask_arg);
            Tensor::from_vec(shape, s)?.cast(dtype)?
        };
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
