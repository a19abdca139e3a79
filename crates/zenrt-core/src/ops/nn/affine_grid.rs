//! AffineGrid (opset 20): the sampling grid `[N, (D,) H, W, 2|3]` of an affine transform
//! `theta [N, 2, 3]` (2-D) or `[N, 3, 4]` (3-D) for an output `size` `[N, C, (D,) H, W]`.

use super::common::{float_vec, from_f64_vec, unravel};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{checked_numel, ensure, DType, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct AffineGrid {
    pub align_corners: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(AffineGrid { align_corners: cx.int("align_corners", 0)? != 0 }))
}

impl Op for AffineGrid {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let theta = input(inputs, 0, "AffineGrid")?;
        let size = ints_of(input(inputs, 1, "AffineGrid")?)?;
        ensure!(size.len() == 4 || size.len() == 5, "AffineGrid: size must have 4 or 5 values, got {size:?}");
        ensure!(size.iter().all(|&v| v >= 0), "AffineGrid: size must be non-negative");
        let r = size.len() - 2;
        let n = size[0] as usize;
        ensure!(
            theta.shape() == [n, r, r + 1],
            "AffineGrid: theta shape {:?}, expected [{n}, {r}, {}]",
            theta.shape(),
            r + 1
        );
        let sp: Vec<usize> = size[2..].iter().map(|&v| v as usize).collect();
        let mut out_shape = vec![n];
        out_shape.extend(&sp);
        out_shape.push(r);
        let total = checked_numel(&out_shape, DType::F64, "AffineGrid output")?;
        let th = float_vec(theta, "AffineGrid theta")?;
        let base = |i: usize, len: usize| -> f64 {
            if self.align_corners {
                if len <= 1 {
                    -1.0
                } else {
                    -1.0 + 2.0 * i as f64 / (len - 1) as f64
                }
            } else {
                -1.0 + (2 * i + 1) as f64 / len as f64
            }
        };
        let npts: usize = sp.iter().product();
        let mut y = Vec::with_capacity(total);
        let mut pos = vec![0; r];
        // Homogeneous point in (x, y, z, 1) order: x is the last spatial axis.
        let mut hom = vec![1.0; r + 1];
        for ni in 0..n {
            let t = &th[ni * r * (r + 1)..(ni + 1) * r * (r + 1)];
            for p in 0..npts {
                unravel(p, &sp, &mut pos);
                for (k, h) in hom.iter_mut().take(r).enumerate() {
                    let d = r - 1 - k;
                    *h = base(pos[d], sp[d]);
                }
                for row in 0..r {
                    y.push((0..=r).map(|j| t[row * (r + 1) + j] * hom[j]).sum());
                }
            }
        }
        Ok(vec![from_f64_vec(theta.dtype(), out_shape, y)?])
    }
}
