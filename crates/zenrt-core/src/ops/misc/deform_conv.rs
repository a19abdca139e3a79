//! DeformConv (2-D): convolution whose kernel taps are moved by learned `offset`s
//! `[N, offset_group * kh * kw * 2, oh, ow]` (pairs of (dy, dx)) and optionally scaled by
//! `mask` `[N, offset_group * kh * kw, oh, ow]`; taps are sampled bilinearly with zeros outside
//! the image. `X` `[N, C, H, W]`, `W` `[oc, C / group, kh, kw]`, optional bias `B` `[oc]`.
//! Attributes dilations, group, kernel_shape, offset_group, pads, strides as in Conv.

use super::common::{check_alloc, from_f64, require_float};
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, Op};
use crate::{bail, Error, Result, Tensor};
use std::sync::Arc;

#[derive(Debug)]
pub struct DeformConv {
    dilations: Option<Vec<i64>>,
    group: i64,
    kernel_shape: Option<Vec<i64>>,
    offset_group: i64,
    pads: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(DeformConv {
        dilations: cx.ints_opt("dilations")?,
        group: cx.int("group", 1)?,
        kernel_shape: cx.ints_opt("kernel_shape")?,
        offset_group: cx.int("offset_group", 1)?,
        pads: cx.ints_opt("pads")?,
        strides: cx.ints_opt("strides")?,
    }))
}

/// Bilinear sample of `img` (`h x w`) at (y, x) with zeros outside.
fn sample(img: &[f64], h: usize, w: usize, y: f64, x: f64) -> f64 {
    if !(y.is_finite() && x.is_finite()) {
        return 0.0;
    }
    let (y0, x0) = (y.floor(), x.floor());
    let (ty, tx) = (y - y0, x - x0);
    let (y0, x0) = (y0 as i64, x0 as i64);
    let at = |yy: i64, xx: i64| -> f64 {
        if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
            img[yy as usize * w + xx as usize]
        } else {
            0.0
        }
    };
    (1.0 - ty) * ((1.0 - tx) * at(y0, x0) + tx * at(y0, x0 + 1))
        + ty * ((1.0 - tx) * at(y0 + 1, x0) + tx * at(y0 + 1, x0 + 1))
}

impl Op for DeformConv {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "DeformConv")?;
        let wt = input(inputs, 1, "DeformConv")?;
        let offset = input(inputs, 2, "DeformConv")?;
        let bias = opt_input(inputs, 3).filter(|t| !t.is_empty());
        let mask = opt_input(inputs, 4).filter(|t| !t.is_empty());
        require_float(x, "DeformConv")?;
        let (xs, ws) = (x.shape(), wt.shape());
        if xs.len() != 4 {
            return Err(Error::Unsupported(format!("DeformConv on a {}-D input (only 2-D images)", xs.len())));
        }
        if ws.len() != 4 {
            bail!("DeformConv: W must be 4-D, got {ws:?}");
        }
        let (n, ic, ih, iw) = (xs[0], xs[1], xs[2], xs[3]);
        let (oc, icg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
        if let Some(k) = &self.kernel_shape {
            if k.len() != 2 || k[0] as u64 != kh as u64 || k[1] as u64 != kw as u64 {
                bail!("DeformConv: kernel_shape {k:?} does not match W shape {ws:?}");
            }
        }
        let (group, og) = (self.group, self.offset_group);
        if group < 1 || og < 1 {
            bail!("DeformConv: group and offset_group must be positive");
        }
        let (group, og) = (group as usize, og as usize);
        if icg * group != ic || oc % group != 0 || ic % og != 0 {
            bail!("DeformConv: channels do not fit: X {xs:?}, W {ws:?}, group {group}, offset_group {og}");
        }
        let pick = |v: &Option<Vec<i64>>, len: usize, def: i64, name: &str| -> Result<Vec<i64>> {
            let v = v.clone().unwrap_or_else(|| vec![def; len]);
            if v.len() != len {
                bail!("DeformConv: {name} must have {len} values, got {v:?}");
            }
            Ok(v)
        };
        let dil = pick(&self.dilations, 2, 1, "dilations")?;
        let pads = pick(&self.pads, 4, 0, "pads")?;
        let st = pick(&self.strides, 2, 1, "strides")?;
        if dil.iter().chain(&st).any(|&v| v < 1) || pads.iter().any(|&v| v < 0) {
            bail!("DeformConv: bad dilations {dil:?}, strides {st:?} or pads {pads:?}");
        }
        let out_dim = |i: i64, k: usize, d: i64, p0: i64, p1: i64, s: i64| -> Result<usize> {
            let span = (k as i64 - 1) * d + 1;
            let v = (i + p0 + p1 - span).div_euclid(s) + 1;
            if i + p0 + p1 < span {
                bail!("DeformConv: kernel does not fit the padded input");
            }
            Ok(v as usize)
        };
        let oh = out_dim(ih as i64, kh, dil[0], pads[0], pads[2], st[0])?;
        let ow = out_dim(iw as i64, kw, dil[1], pads[1], pads[3], st[1])?;
        let kk = kh * kw;
        if offset.shape() != [n, og * kk * 2, oh, ow] {
            bail!("DeformConv: offset must have shape {:?}, got {:?}", [n, og * kk * 2, oh, ow], offset.shape());
        }
        if let Some(m) = mask {
            if m.shape() != [n, og * kk, oh, ow] {
                bail!("DeformConv: mask must have shape {:?}, got {:?}", [n, og * kk, oh, ow], m.shape());
            }
        }
        if let Some(b) = bias {
            if b.len() != oc {
                bail!("DeformConv: B must have {oc} values, got {:?}", b.shape());
            }
        }
        let out_shape = vec![n, oc, oh, ow];
        check_alloc(&out_shape, "DeformConv output")?;
        let xv = x.to_f64_vec();
        let wv = wt.to_f64_vec();
        let ov = offset.to_f64_vec();
        let mv = mask.map(|m| m.to_f64_vec());
        let bv = bias.map(|b| b.to_f64_vec());
        let ocg = oc / group;
        let icog = ic / og;
        let plane = oh * ow;
        let mut out = vec![0.0; n * oc * plane];
        let mut col = vec![0.0; ic * kk];
        for b in 0..n {
            for i in 0..oh {
                for j in 0..ow {
                    let p = i * ow + j;
                    // Sampled (and masked) input column for this output position.
                    for c in 0..ic {
                        let g = c / icog;
                        let img = &xv[(b * ic + c) * ih * iw..(b * ic + c + 1) * ih * iw];
                        for a in 0..kh {
                            for e in 0..kw {
                                let k = a * kw + e;
                                let oidx = (b * og * kk * 2 + (g * kk + k) * 2) * plane + p;
                                let y = (i as i64 * st[0] - pads[0] + a as i64 * dil[0]) as f64 + ov[oidx];
                                let xx = (j as i64 * st[1] - pads[1] + e as i64 * dil[1]) as f64 + ov[oidx + plane];
                                let m = mv.as_ref().map_or(1.0, |m| m[(b * og * kk + g * kk + k) * plane + p]);
                                col[c * kk + k] = m * sample(img, ih, iw, y, xx);
                            }
                        }
                    }
                    for o in 0..oc {
                        let g = o / ocg;
                        let w = &wv[o * icg * kk..(o + 1) * icg * kk];
                        let cseg = &col[g * icg * kk..(g + 1) * icg * kk];
                        let s: f64 = w.iter().zip(cseg).map(|(a, b)| a * b).sum();
                        out[(b * oc + o) * plane + p] = s + bv.as_ref().map_or(0.0, |bv| bv[o]);
                    }
                }
            }
        }
        Ok(vec![from_f64(out_shape, out, x.dtype())?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_zero_outside() {
        let img = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(sample(&img, 2, 2, 0.5, 0.5), 2.5);
        assert_eq!(sample(&img, 2, 2, 1.0, 1.0), 4.0);
        assert_eq!(sample(&img, 2, 2, 1.5, 1.0), 2.0); // half of 4 blended with zero
        assert_eq!(sample(&img, 2, 2, -1.0, 0.0), 0.0);
    }
}
