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
