//! `AveragePoolGrad(dy, x_like)`: the gradient of `AveragePool(x)` with respect to `x`, with
//! the AveragePool node's attributes (`count_include_pad` included): each output gradient is
//! spread evenly over the taps of its window, divided by the same count the forward used.

use crate::ops::nn::common::{from_f64_vec, nc_spatial, unravel, Geometry, Window};
use crate::ops::{input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{ensure, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct AveragePoolGrad {
    pub win: Window,
    pub count_include_pad: bool,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(AveragePoolGrad {
        win: Window::parse(cx, true)?,
        count_include_pad: cx.int("count_include_pad", 0)? != 0,
    }))
}

/// For each output position along axis `d`: the valid input coordinates of its window and the
/// number of taps inside the padded input.
fn axis_taps(geo: &Geometry, d: usize, in_len: usize) -> Vec<(Vec<usize>, usize)> {
    let (k, s, dl) = (geo.kernel[d] as i64, geo.strides[d] as i64, geo.dilations[d] as i64);
    (0..geo.out[d] as i64)
        .map(|o| {
            let pos: Vec<i64> = (0..k).map(|t| o * s - geo.pads_begin[d] + t * dl).collect();
            let valid = pos.iter().filter(|&&p| p >= 0 && p < in_len as i64).map(|&p| p as usize).collect();
            let padded = pos.iter().filter(|&&p| p < in_len as i64 + geo.pads_end[d]).count();
            (valid, padded)
        })
        .collect()
}

impl Op for AveragePoolGrad {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let dy = input(inputs, 0, "AveragePoolGrad")?;
        let x = input(inputs, 1, "AveragePoolGrad")?;
        super::check_float("AveragePoolGrad", dy, x.dtype())?;
        let (n, c, sp) = nc_spatial(x.shape(), "AveragePoolGrad", 3)?;
        let geo = self.win.resolve(&sp, None)?;
        let mut want = vec![n, c];
        want.extend(&geo.out);
        ensure!(dy.shape() == want, "AveragePoolGrad: gradient shape {:?}, expected {want:?}", dy.shape());
        let r = sp.len();
        let axes: Vec<Vec<(Vec<usize>, usize)>> = (0..r).map(|d| axis_taps(&geo, d, sp[d])).collect();
        let plane: usize = sp.iter().product();
        let out_plane: usize = geo.out.iter().product();
        let dv = dy.to_f64_vec();
        let mut acc = vec![0.0f64; x.len()];
        let mut o = vec![0usize; r];
        for nc in 0..n * c {
            for of in 0..out_plane {
                unravel(of, &geo.out, &mut o);
                let lists: Vec<&(Vec<usize>, usize)> = (0..r).map(|d| &axes[d][o[d]]).collect();
                let valid: usize = lists.iter().map(|l| l.0.len()).product();
                if valid == 0 {
                    continue;
                }
                let div = if self.count_include_pad { lists.iter().map(|l| l.1).product() } else { valid };
                let g = dv[nc * out_plane + of] / div as f64;
                // Visit every tap of the window (product of the per-axis valid lists).
                let mut t = vec![0usize; r];
                'taps: loop {
                    let mut flat = 0usize;
                    for d in 0..r {
                        flat = flat * sp[d] + lists[d].0[t[d]];
                    }
                    acc[nc * plane + flat] += g;
                    let mut d = r;
                    loop {
                        if d == 0 {
                            break 'taps;
                        }
                        d -= 1;
                        t[d] += 1;
                        if t[d] < lists[d].0.len() {
                            break;
                        }
                        t[d] = 0;
                    }
                }
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), x.shape().to_vec(), acc)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(inputs
            .get(1)
            .and_then(|i| i.info)
            .map(|i| vec![ValueInfo::new("", i.dtype, i.shape.clone())])
            .unwrap_or_default())
    }
}
