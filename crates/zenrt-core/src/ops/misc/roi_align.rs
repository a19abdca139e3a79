//! RoiAlign: average (or max) of bilinearly sampled points in each of
//! `output_height x output_width` bins of every region of interest. `X` `[N, C, H, W]`,
//! `rois` `[R, 4]` as `(x1, y1, x2, y2)` in input scale times `spatial_scale`, `batch_indices`
//! `[R]`; output `[R, C, output_height, output_width]`. `sampling_ratio = 0` uses
//! `ceil(roi_size / bins)` points per bin side. `coordinate_transformation_mode` (opset 16;
//! older opsets behave as `output_half_pixel`) `half_pixel` shifts by -0.5 and does not force
//! a minimum roi size of 1. Max mode takes the max of the weighted corner values, as the onnx
//! reference (and onnxruntime) do.

use super::common::{check_alloc, from_f64, require_float};
use crate::ops::util::ints_of;
use crate::ops::{input, BuildCtx, ExecCtx, Op};
use crate::{bail, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct RoiAlign {
    half_pixel: bool,
    max: bool,
    out_h: usize,
    out_w: usize,
    sampling_ratio: i64,
    spatial_scale: f64,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let default_ctm = if cx.opset < 16 { "output_half_pixel" } else { "half_pixel" };
    let half_pixel = match cx.string("coordinate_transformation_mode", default_ctm)?.as_str() {
        "half_pixel" => true,
        "output_half_pixel" => false,
        m => bail!("RoiAlign: unknown coordinate_transformation_mode '{m}'"),
    };
    let max = match cx.string("mode", "avg")?.as_str() {
        "avg" => false,
        "max" => true,
        m => bail!("RoiAlign: unknown mode '{m}'"),
    };
    let dim = |name: &str| -> Result<usize> {
        let v = cx.int(name, 1)?;
        if v < 1 {
            bail!("RoiAlign: {name} must be positive, got {v}");
        }
        Ok(v as usize)
    };
    Ok(Arc::new(RoiAlign {
        half_pixel,
        max,
        out_h: dim("output_height")?,
        out_w: dim("output_width")?,
        sampling_ratio: cx.int("sampling_ratio", 0)?,
        spatial_scale: cx.float("spatial_scale", 1.0)? as f64,
    }))
}

/// Corner taps of one bilinear sample: (flat offset, weight).
type Taps = [(usize, f64); 4];

/// Four (flat offset, weight) corner taps of a bilinear sample at (y, x); empty when outside.
fn bilinear(y: f64, x: f64, h: usize, w: usize) -> Option<Taps> {
    if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
        return None;
    }
    let (mut y, mut x) = (y.max(0.0), x.max(0.0));
    let mut y0 = y as usize;
    let mut x0 = x as usize;
    let y1 = if y0 >= h - 1 {
        y0 = h - 1;
        y = y0 as f64;
        y0
    } else {
        y0 + 1
    };
    let x1 = if x0 >= w - 1 {
        x0 = w - 1;
        x = x0 as f64;
        x0
    } else {
        x0 + 1
    };
    let (ly, lx) = (y - y0 as f64, x - x0 as f64);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    Some([(y0 * w + x0, hy * hx), (y0 * w + x1, hy * lx), (y1 * w + x0, ly * hx), (y1 * w + x1, ly * lx)])
}

impl Op for RoiAlign {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "RoiAlign")?;
        let rois = input(inputs, 1, "RoiAlign")?;
        let bidx = ints_of(input(inputs, 2, "RoiAlign")?)?;
        require_float(x, "RoiAlign")?;
        let xs = x.shape();
        if xs.len() != 4 {
            bail!("RoiAlign: X must be 4-D, got {xs:?}");
        }
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        let nr = bidx.len();
        if rois.shape() != [nr, 4] {
            bail!("RoiAlign: rois must have shape [{nr}, 4], got {:?}", rois.shape());
        }
        let (ph, pw) = (self.out_h, self.out_w);
        let out_shape = vec![nr, c, ph, pw];
        check_alloc(&out_shape, "RoiAlign output")?;
        let xv = x.to_f64_vec();
        let rv = rois.to_f64_vec();
        let mut out = vec![0.0; nr * c * ph * pw];
        if h == 0 || w == 0 {
            return Ok(vec![from_f64(out_shape, out, x.dtype())?]);
        }
        let off = if self.half_pixel { 0.5 } else { 0.0 };
        for (ri, &b) in bidx.iter().enumerate() {
            if b < 0 || b as usize >= n {
                bail!("RoiAlign: batch index {b} is out of range for {n} images");
            }
            let r = &rv[ri * 4..ri * 4 + 4];
            let (sw, sh) = (r[0] * self.spatial_scale - off, r[1] * self.spatial_scale - off);
            let (ew, eh) = (r[2] * self.spatial_scale - off, r[3] * self.spatial_scale - off);
            let (mut rw, mut rh) = (ew - sw, eh - sh);
            if !self.half_pixel {
                rw = rw.max(1.0);
                rh = rh.max(1.0);
            }
            let (bh, bw) = (rh / ph as f64, rw / pw as f64);
            let grid = |sz: f64, bins: usize| -> usize {
                if self.sampling_ratio > 0 {
                    self.sampling_ratio as usize
                } else {
                    (sz / bins as f64).ceil().max(0.0) as usize
                }
            };
            let (gh, gw) = (grid(rh, ph), grid(rw, pw));
            if gh.saturating_mul(gw) > 1 << 24 {
                bail!("RoiAlign: {gh}x{gw} sampling points per bin is too many");
            }
            let count = (gh * gw).max(1) as f64;
            // Sample taps of every bin (shared by all channels).
            let mut taps: Vec<Vec<Option<Taps>>> = Vec::with_capacity(ph * pw);
            for py in 0..ph {
                for px in 0..pw {
                    let mut t = Vec::with_capacity(gh * gw);
                    for iy in 0..gh {
                        let yy = sh + py as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                        for ix in 0..gw {
                            let xx = sw + px as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                            t.push(bilinear(yy, xx, h, w));
                        }
                    }
                    taps.push(t);
                }
            }
            for ch in 0..c {
                let img = &xv[(b as usize * c + ch) * h * w..(b as usize * c + ch + 1) * h * w];
                for (bin, t) in taps.iter().enumerate() {
                    let vals = t.iter().map(|s| match s {
                        None => 0.0,
                        Some(s) if self.max => s.iter().map(|&(o, wt)| wt * img[o]).fold(f64::NEG_INFINITY, f64::max),
                        Some(s) => s.iter().map(|&(o, wt)| wt * img[o]).sum(),
                    });
                    let v = if self.max { vals.fold(f64::NEG_INFINITY, f64::max) } else { vals.sum::<f64>() / count };
                    out[(ri * c + ch) * ph * pw + bin] = if v == f64::NEG_INFINITY { 0.0 } else { v };
                }
            }
        }
        Ok(vec![from_f64(out_shape, out, x.dtype())?])
    }
}
