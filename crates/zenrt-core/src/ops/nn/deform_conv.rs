//! DeformConv (2-D): convolution whose kernel taps are shifted by learned per-position
//! offsets (bilinear sampling, zero outside the image) and optionally scaled by a mask.
//! Implemented as a deformable im2col followed by a GEMM per group, in f64.

use super::common::{float_vec, from_f64_vec, gemm, AutoPad, Window};
use super::conv::parse_group;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{checked_numel, ensure, DType, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct DeformConv {
    pub win: Window,
    pub group: usize,
    pub offset_group: usize,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    let og = cx.int("offset_group", 1)?;
    if og < 1 {
        return Err(Error::Attr { attr: "offset_group".into(), msg: format!("must be >= 1, got {og}") });
    }
    let mut win = Window::parse(cx, false)?;
    win.auto_pad = AutoPad::NotSet;
    Ok(Arc::new(DeformConv { win, group: parse_group(cx)?, offset_group: og as usize }))
}

fn bilinear(src: &[f64], h: usize, w: usize, y: f64, x: f64) -> f64 {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let (y0, x0) = (y0 as i64, x0 as i64);
    let at = |yy: i64, xx: i64| {
        if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
            src[yy as usize * w + xx as usize]
        } else {
            0.0
        }
    };
    (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
        + fy * ((1.0 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1))
}

impl Op for DeformConv {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "DeformConv")?;
        let wt = input(inputs, 1, "DeformConv")?;
        let off = input(inputs, 2, "DeformConv")?;
        let b = opt_input(inputs, 3);
        let mask = opt_input(inputs, 4);
        if x.rank() != 4 {
            return Err(Error::Unsupported(format!("DeformConv on rank-{} input (only 2-D is implemented)", x.rank())));
        }
        ensure!(wt.rank() == 4, "DeformConv: W must be [M, C/group, kH, kW], got {:?}", wt.shape());
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let (m, cg, g, og) = (wt.shape()[0], wt.shape()[1], self.group, self.offset_group);
        ensure!(cg * g == c && m % g == 0, "DeformConv: W {:?} does not fit {c} channels with group {g}", wt.shape());
        ensure!(c % og == 0, "DeformConv: {c} channels are not divisible by offset_group {og}");
        let geo = self.win.resolve(&[h, w], Some(&wt.shape()[2..]))?;
        let (kh, kw) = (geo.kernel[0], geo.kernel[1]);
        let (oh, ow) = (geo.out[0], geo.out[1]);
        let ks = kh * kw;
        ensure!(
            off.shape() == [n, og * 2 * ks, oh, ow],
            "DeformConv: offset shape {:?}, expected {:?}",
            off.shape(),
            [n, og * 2 * ks, oh, ow]
        );
        if let Some(mk) = mask {
            ensure!(
                mk.shape() == [n, og * ks, oh, ow],
                "DeformConv: mask shape {:?}, expected {:?}",
                mk.shape(),
                [n, og * ks, oh, ow]
            );
        }
        let out_shape = vec![n, m, oh, ow];
        let total = checked_numel(&out_shape, DType::F64, "DeformConv output")?;
        let xv = float_vec(x, "DeformConv")?;
        let wv = float_vec(wt, "DeformConv W")?;
        let ov = float_vec(off, "DeformConv offset")?;
        let mv = mask.map(|t| float_vec(t, "DeformConv mask")).transpose()?;
        let bv = b.map(|t| float_vec(t, "DeformConv B")).transpose()?;
        if let Some(b) = &bv {
            ensure!(b.len() == m, "DeformConv: B has {} values, expected {m}", b.len());
        }
        let opl = oh * ow;
        let mut y = vec![0.0; total];
        for (i, plane) in y.chunks_mut(opl.max(1)).enumerate().take(n * m) {
            plane.fill(bv.as_ref().map_or(0.0, |b| b[i % m]));
        }
        let mg = m / g;
        let cpo = c / og;
        let mut col = vec![0.0; checked_numel(&[cg * ks, opl], DType::F64, "DeformConv column buffer")?];
        for ni in 0..n {
            for gi in 0..g {
                for cl in 0..cg {
                    let ci = gi * cg + cl;
                    let ogi = ci / cpo;
                    let src = &xv[(ni * c + ci) * h * w..][..h * w];
                    for a in 0..kh {
                        for bb in 0..kw {
                            let k = a * kw + bb;
                            let row = &mut col[(cl * ks + k) * opl..][..opl];
                            let oy = &ov[((ni * og + ogi) * ks + k) * 2 * opl..][..opl];
                            let ox = &ov[(((ni * og + ogi) * ks + k) * 2 + 1) * opl..][..opl];
                            for i in 0..oh {
                                for j in 0..ow {
                                    let p = i * ow + j;
                                    let yy = (i * geo.strides[0] + a * geo.dilations[0]) as f64
                                        - geo.pads_begin[0] as f64
                                        + oy[p];
                                    let xx = (j * geo.strides[1] + bb * geo.dilations[1]) as f64
                                        - geo.pads_begin[1] as f64
                                        + ox[p];
                                    let mval = mv.as_ref().map_or(1.0, |mv| mv[((ni * og + ogi) * ks + k) * opl + p]);
                                    row[p] = mval * bilinear(src, h, w, yy, xx);
                                }
                            }
                        }
                    }
                }
                let wg = &wv[gi * mg * cg * ks..(gi + 1) * mg * cg * ks];
                let yg = &mut y[(ni * m + gi * mg) * opl..][..mg * opl];
                gemm(mg, cg * ks, opl, (wg, cg * ks, 1), (&col, opl, 1), 1.0, yg, opl, 1)?;
            }
        }
        Ok(vec![from_f64_vec(x.dtype(), out_shape, y)?])
    }
}
