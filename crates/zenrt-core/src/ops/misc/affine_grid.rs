//! AffineGrid: the sampling grid `[N, H, W, 2]` (or `[N, D, H, W, 3]`) of affine matrices
//! `theta` `[N, 2, 3]` (or `[N, 3, 4]`) for an output of `size` `[N, C, H, W]` (or
//! `[N, C, D, H, W]`). Base coordinates are normalized to [-1, 1]: pixel centres when
//! `align_corners = 0`, pixel corners when 1. Each grid point is `theta * (x, y[, z], 1)`.

use super::common::{check_alloc, from_f64, require_float};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct AffineGrid {
    align_corners: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(AffineGrid { align_corners: cx.int("align_corners", 0)? != 0 }))
}

/// Normalized coordinate of position `i` along an axis of `len`.
fn base(i: usize, len: usize, align: bool) -> f64 {
    if align {
        if len <= 1 {
            0.0
        } else {
            -1.0 + i as f64 * (2.0 / (len - 1) as f64)
        }
    } else {
        let step = 2.0 / len as f64;
        -1.0 + step / 2.0 + i as f64 * step
    }
}

impl Op for AffineGrid {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let theta = input(inputs, 0, "AffineGrid")?;
        require_float(theta, "AffineGrid")?;
        let size = ints_of(input(inputs, 1, "AffineGrid")?)?;
        let r = size.len().saturating_sub(2); // spatial rank: 2 or 3
        if !(r == 2 || r == 3) || size.iter().any(|&v| v < 0) {
            bail!("AffineGrid: size must be [N, C, H, W] or [N, C, D, H, W] with non-negative values, got {size:?}");
        }
        let n = size[0] as usize;
        if theta.shape() != [n, r, r + 1] {
            bail!("AffineGrid: theta must have shape [{n}, {r}, {}], got {:?}", r + 1, theta.shape());
        }
        let sp: Vec<usize> = size[2..].iter().map(|&v| v as usize).collect();
        let mut out_shape = vec![n];
        out_shape.extend_from_slice(&sp);
        out_shape.push(r);
        check_alloc(&out_shape, "AffineGrid output")?;
        let th = theta.to_f64_vec();
        let npos: usize = sp.iter().product();
        let mut out = Vec::with_capacity(n * npos * r);
        for b in 0..n {
            let t = &th[b * r * (r + 1)..(b + 1) * r * (r + 1)];
            for p in 0..npos {
                // homogeneous coordinates (x, y[, z], 1): x along the last spatial axis
                let mut h = vec![1.0; r + 1];
                let mut rem = p;
                for ax in (0..r).rev() {
                    let i = rem % sp[ax];
                    rem /= sp[ax];
                    h[r - 1 - ax] = base(i, sp[ax], self.align_corners);
                }
                for k in 0..r {
                    out.push((0..=r).map(|j| t[k * (r + 1) + j] * h[j]).sum());
                }
            }
        }
        Ok(vec![from_f64(out_shape, out, theta.dtype())?])
    }
}
