//! RoiAlign: average or max of bilinear samples over each bin of each region of interest
//! (`rois [R, 4]` as x1, y1, x2, y2 on `X [N, C, H, W]`), following the ONNX/ORT kernel.

use super::common::{float_vec, from_f64_vec};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, checked_numel, ensure, DType, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct RoiAlign {
    pub max_mode: bool,
    pub half_pixel: bool,
    pub out_h: usize,
    pub out_w: usize,
    pub sampling_ratio: i64,
    pub spatial_scale: f64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let max_mode = match cx.string("mode", "avg")?.as_str() {
        "avg" => false,
        "max" => true,
        other => return Err(Error::Attr { attr: "mode".into(), msg: format!("unknown value {other:?}") }),
    };
    let default_ctm = if cx.opset >= 16 { "half_pixel" } else { "output_half_pixel" };
    let half_pixel = match cx.string("coordinate_transformation_mode", default_ctm)?.as_str() {
        "half_pixel" => true,
        "output_half_pixel" => false,
        other => {
            return Err(Error::Attr {
                attr: "coordinate_transformation_mode".into(),
                msg: format!("unknown value {other:?}"),
            })
        }
    };
    let dim = |name: &str| -> Result<usize> {
        let v = cx.int(name, 1)?;
        if v < 1 {
            return Err(Error::Attr { attr: name.into(), msg: format!("must be >= 1, got {v}") });
        }
        Ok(v as usize)
    };
    Ok(Arc::new(RoiAlign {
        max_mode,
        half_pixel,
        out_h: dim("output_height")?,
        out_w: dim("output_width")?,
        sampling_ratio: cx.int("sampling_ratio", 0)?.max(0),
        spatial_scale: cx.float("spatial_scale", 1.0)? as f64,
    }))
}

/// One bilinear sample: four (flat offset, weight) pairs.
type Sample = [(usize, f64); 4];

fn sample(y: f64, x: f64, h: usize, w: usize) -> Sample {
    if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
        return [(0, 0.0); 4];
    }
    let (mut y, mut x) = (y.max(0.0), x.max(0.0));
    let (mut yl, mut xl) = (y as usize, x as usize);
    let (yh, xh);
    if yl >= h - 1 {
        yl = h - 1;
        yh = yl;
        y = yl as f64;
    } else {
        yh = yl + 1;
    }
    if xl >= w - 1 {
        xl = w - 1;
        xh = xl;
        x = xl as f64;
    } else {
        xh = xl + 1;
    }
    let (ly, lx) = (y - yl as f64, x - xl as f64);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    [(yl * w + xl, hy * hx), (yl * w + xh, hy * lx), (yh * w + xl, ly * hx), (yh * w + xh, ly * lx)]
}

impl Op for RoiAlign {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "RoiAlign")?;
        let rois = input(inputs, 1, "RoiAlign")?;
        let bidx = ints_of(input(inputs, 2, "RoiAlign")?)?;
        ensure!(x.rank() == 4, "RoiAlign: X must be [N, C, H, W], got {:?}", x.shape());
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let nr = bidx.len();
        ensure!(rois.shape() == [nr, 4], "RoiAlign: rois shape {:?}, expected [{nr}, 4]", rois.shape());
        let out_shape = vec![nr, c, self.out_h, self.out_w];
        let total = checked_numel(&out_shape, DType::F64, "RoiAlign output")?;
        let xv = float_vec(x, "RoiAlign")?;
        let rv = float_vec(rois, "RoiAlign rois")?;
        let mut y = vec![0.0; total];
        if h == 0 || w == 0 {
            return Ok(vec![from_f64_vec(x.dtype(), out_shape, y)?]);
        }
        let (ph_n, pw_n) = (self.out_h, self.out_w);
        for r in 0..nr {
            let b = bidx[r];
            if b < 0 || b as usize >= n {
                bail!("RoiAlign: batch index {b} is out of range for batch size {n}");
            }
            let off = if self.half_pixel { 0.5 } else { 0.0 };
            let roi = &rv[r * 4..r * 4 + 4];
            let (sw, sh) = (roi[0] * self.spatial_scale - off, roi[1] * self.spatial_scale - off);
            let (ew, eh) = (roi[2] * self.spatial_scale - off, roi[3] * self.spatial_scale - off);
            let (mut rw, mut rh) = (ew - sw, eh - sh);
            if !self.half_pixel {
                rw = rw.max(1.0);
                rh = rh.max(1.0);
            }
            let (bh, bw) = (rh / ph_n as f64, rw / pw_n as f64);
            let grid = |s: f64| -> usize {
                if self.sampling_ratio > 0 {
                    self.sampling_ratio as usize
                } else {
                    s.ceil().clamp(0.0, 1e6) as usize
                }
            };
            let (gh, gw) = (grid(rh / ph_n as f64), grid(rw / pw_n as f64));
            let count = (gh * gw).max(1) as f64;
            // Samples per output bin, shared by every channel.
            let mut bins: Vec<Vec<Sample>> = Vec::with_capacity(ph_n * pw_n);
            for ph in 0..ph_n {
                for pw in 0..pw_n {
                    let mut v = Vec::with_capacity(gh * gw);
                    for iy in 0..gh {
                        let yy = sh + ph as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                        for ix in 0..gw {
                            let xx = sw + pw as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                            v.push(sample(yy, xx, h, w));
                        }
                    }
                    bins.push(v);
                }
            }
            for ci in 0..c {
                let src = &xv[(b as usize * c + ci) * h * w..][..h * w];
                for (k, bin) in bins.iter().enumerate() {
                    let val = if self.max_mode {
                        bin.iter()
                            .map(|s| s.iter().map(|&(o, wt)| wt * src[o]).fold(f64::NEG_INFINITY, f64::max))
                            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
                            .unwrap_or(0.0)
                    } else {
                        bin.iter().map(|s| s.iter().map(|&(o, wt)| wt * src[o]).sum::<f64>()).sum::<f64>() / count
                    };
                    y[(r * c + ci) * ph_n * pw_n + k] = val;
                }
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), out_shape, y)?])
    }
}
