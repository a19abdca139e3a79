//! LayerNormalization: normalizes over the axes from `axis` to the end, then applies Scale and
//! optional B (broadcast to the normalized shape). Optional Mean and InvStdDev outputs.

use super::common::{float_vec, from_f64_vec};
use crate::ops::util::{broadcast_index_map, norm_axis};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, DType, Dim, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct LayerNorm {
    pub axis: i64,
    pub epsilon: f64,
    pub stash_type: i64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(LayerNorm {
        axis: cx.int("axis", -1)?,
        epsilon: cx.float("epsilon", 1e-5)? as f64,
        stash_type: cx.int("stash_type", 1)?,
    }))
}

/// Values of `t` broadcast (numpy rules, right-aligned) to `inner` shape.
pub fn broadcast_param(t: &Tensor, inner: &[usize], what: &str) -> Result<Vec<f64>> {
    let v = float_vec(t, what)?;
    ensure!(t.rank() <= inner.len(), "{what} shape {:?} cannot broadcast to {inner:?}", t.shape());
    let off = inner.len() - t.rank();
    for (i, &d) in t.shape().iter().enumerate() {
        ensure!(d == 1 || d == inner[off + i], "{what} shape {:?} cannot broadcast to {inner:?}", t.shape());
    }
    if t.shape() == inner {
        return Ok(v);
    }
    Ok(broadcast_index_map(t.shape(), inner).into_iter().map(|i| v[i]).collect())
}

impl LayerNorm {
    /// The f32 path: per row a vector sum, a vector sum of squared deviations and one fused
    /// scale/shift pass; rows split over threads.
    fn run_f32(
        &self,
        x: &Tensor,
        axis: usize,
        rows: usize,
        cols: usize,
        scale: &[f64],
        bias: Option<&[f64]>,
    ) -> Result<Vec<Tensor>> {
        let xv = x.as_slice::<f32>()?;
        let g: Vec<f32> = scale.iter().map(|&v| v as f32).collect();
        let b: Vec<f32> = bias.map_or_else(|| vec![0.0; cols], |b| b.iter().map(|&v| v as f32).collect());
        let mut y = crate::memory::alloc_for_overwrite::<f32>(xv.len());
        let mut stats = vec![(0f32, 0f32); rows];
        let eps = self.epsilon;
        crate::simd::par::for_rows_with(&mut y, cols, &mut stats, |r, out, st| {
            let row = &xv[r * cols..(r + 1) * cols];
            let mean = crate::simd::sum(row) / cols as f32;
            crate::simd::binary_vs(crate::simd::BinFn::Sub, row, mean, out);
            let var = crate::simd::dot(out, out) / cols as f32;
            let inv = (1.0 / (var as f64 + eps).sqrt()) as f32;
            for ((o, &gj), &bj) in out.iter_mut().zip(&g).zip(&b) {
                *o = *o * inv * gj + bj;
            }
            *st = (mean, inv);
        });
        let mut stat_shape = x.shape()[..axis].to_vec();
        stat_shape.extend(std::iter::repeat_n(1, x.rank() - axis));
        let sd = self.stat_dtype(x.dtype());
        let means: Vec<f64> = stats.iter().map(|s| s.0 as f64).collect();
        let invs: Vec<f64> = stats.iter().map(|s| s.1 as f64).collect();
        Ok(vec![
            Tensor::from_vec(x.shape().to_vec(), y)?,
            from_f64_vec(sd, stat_shape.clone(), means)?,
            from_f64_vec(sd, stat_shape, invs)?,
        ])
    }

    fn stat_dtype(&self, x: DType) -> DType {
        match self.stash_type {
            1 => DType::F32,
            _ => x,
        }
    }
}

impl Op for LayerNorm {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "LayerNormalization")?;
        let axis = norm_axis(self.axis, x.rank())?;
        let inner_shape = &x.shape()[axis..];
        let cols: usize = inner_shape.iter().product();
        let rows: usize = x.shape()[..axis].iter().product();
        let scale = broadcast_param(input(inputs, 1, "LayerNormalization")?, inner_shape, "Scale")?;
        let bias = opt_input(inputs, 2).map(|b| broadcast_param(b, inner_shape, "B")).transpose()?;
        if x.dtype() == DType::F32 {
            return self.run_f32(x, axis, rows, cols, &scale, bias.as_deref());
        }
        let xv = float_vec(x, "LayerNormalization")?;
        let mut y = vec![0.0; xv.len()];
        let (mut means, mut invs) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for r in 0..rows {
            let row = &xv[r * cols..(r + 1) * cols];
            let mean = row.iter().sum::<f64>() / cols as f64;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / cols as f64;
            let inv = 1.0 / (var + self.epsilon).sqrt();
            for (j, (o, &v)) in y[r * cols..(r + 1) * cols].iter_mut().zip(row).enumerate() {
                *o = (v - mean) * inv * scale[j] + bias.as_ref().map_or(0.0, |b| b[j]);
            }
            means.push(mean);
            invs.push(inv);
        }
        let mut stat_shape = x.shape()[..axis].to_vec();
        stat_shape.extend(std::iter::repeat_n(1, x.rank() - axis));
        let sd = self.stat_dtype(x.dtype());
        Ok(vec![
            from_f64_vec(x.dtype(), x.shape().to_vec(), y)?,
            from_f64_vec(sd, stat_shape.clone(), means)?,
            from_f64_vec(sd, stat_shape, invs)?,
        ])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        let Some(x) = inputs.first().and_then(|i| i.info) else {
            return Ok(vec![]);
        };
        let mut out = vec![ValueInfo::new("", x.dtype, x.shape.clone())];
        if let Some(s) = &x.shape {
            if let Ok(axis) = norm_axis(self.axis, s.len()) {
                let mut st = s[..axis].to_vec();
                st.extend(std::iter::repeat_n(Dim::Known(1), s.len() - axis));
                let sd = x.dtype.map(|d| self.stat_dtype(d));
                out.push(ValueInfo::new("", sd, Some(st.clone())));
                out.push(ValueInfo::new("", sd, Some(st)));
            }
        }
        Ok(out)
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

    /// The f32 path against the f64 path on the same values (output, Mean, InvStdDev).
    #[test]
    fn f32_matches_f64() {
        let (rows, cols) = (5, 67);
        let v: Vec<f64> =
            (0..rows * cols).map(|i| ((i * 7919) % 113) as f64 * 0.03 - 1.5 + (i / cols) as f64).collect();
        let g: Vec<f64> = (0..cols).map(|i| 0.5 + i as f64 * 0.01).collect();
        let b: Vec<f64> = (0..cols).map(|i| i as f64 * -0.02).collect();
        let op = LayerNorm { axis: -1, epsilon: 1e-5, stash_type: 1 };
        let t64 = |d: &[f64], s: Vec<usize>| Tensor::from_vec(s, d.to_vec()).unwrap();
        let t32 = |d: &[f64], s: Vec<usize>| Tensor::from_vec(s, d.iter().map(|&x| x as f32).collect()).unwrap();
        let (x64, g64, b64) = (t64(&v, vec![rows, cols]), t64(&g, vec![cols]), t64(&b, vec![cols]));
        let (x32, g32, b32) = (t32(&v, vec![rows, cols]), t32(&g, vec![cols]), t32(&b, vec![cols]));
        let want = op.run(&NoCtx, &[Some(&x64), Some(&g64), Some(&b64)]).unwrap();
        let got = op.run(&NoCtx, &[Some(&x32), Some(&g32), Some(&b32)]).unwrap();
        for (gt, wt) in got.iter().zip(&want) {
            assert_eq!(gt.shape(), wt.shape());
            for (a, b) in gt.to_f64_vec().iter().zip(wt.to_f64_vec()) {
                assert!((a - b).abs() <= 2e-5 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
    }
}
