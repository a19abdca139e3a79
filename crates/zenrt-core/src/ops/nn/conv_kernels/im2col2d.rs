//! Implicit im2col for 2-D convolutions: packs GEMM B panels (`K = C·kh·kw` along p, output
//! positions along t) straight from the `[C, H, W]` image.

use crate::ops::gemm::pack::copy_run;
use crate::ops::gemm::PackSrc;
use crate::ops::nn::common::Geometry;

/// One group's image seen as the `[C·kh·kw, OH·OW]` im2col matrix.
pub struct Im2col2d<'a> {
    x: &'a [f32],
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    ph: i64,
    pw: i64,
    oh: usize,
    ow: usize,
}

impl<'a> Im2col2d<'a> {
    /// `x` holds `c` planes of `in_sp = [H, W]`; `geo` is 2-D.
    pub fn new(x: &'a [f32], c: usize, in_sp: &[usize], geo: &Geometry) -> Im2col2d<'a> {
        Im2col2d {
            x,
            c,
            h: in_sp[0],
            w: in_sp[1],
            kh: geo.kernel[0],
            kw: geo.kernel[1],
            sh: geo.strides[0],
            sw: geo.strides[1],
            dh: geo.dilations[0],
            dw: geo.dilations[1],
            ph: geo.pads_begin[0],
            pw: geo.pads_begin[1],
            oh: geo.out[0],
            ow: geo.out[1],
        }
    }
}

impl PackSrc for Im2col2d<'_> {
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    fn other(&self) -> usize {
        self.oh * self.ow
    }
    fn pack(&self, p0: usize, kc: usize, t0: usize, wdt: usize, r: usize, dst: &mut [f32]) {
        let (h, w, ow) = (self.h, self.w, self.ow);
        let kk = self.kh * self.kw;
        for (pp, row) in dst[..kc * r].chunks_exact_mut(r).enumerate() {
            let p = p0 + pp;
            let (c, rem) = (p / kk, p % kk);
            let (a, b) = (rem / self.kw, rem % self.kw);
            let plane = &self.x[c * h * w..(c + 1) * h * w];
            let (mut j, mut t) = (0, t0);
            while j < wdt {
                let (oy, ox) = (t / ow, t % ow);
                let run = (ow - ox).min(wdt - j);
                let dst = &mut row[j..j + run];
                let iy = (oy * self.sh + a * self.dh) as i64 - self.ph;
                if iy < 0 || iy >= h as i64 {
                    dst.fill(0.0);
                } else {
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    let ix0 = (ox * self.sw + b * self.dw) as i64 - self.pw;
                    if self.sw == 1 {
                        let lo = (-ix0).clamp(0, run as i64) as usize;
                        let hi = (w as i64 - ix0).clamp(lo as i64, run as i64) as usize;
                        dst[..lo].fill(0.0);
                        if hi > lo {
                            let s0 = (ix0 + lo as i64) as usize;
                            copy_run(&mut dst[lo..hi], &src[s0..s0 + (hi - lo)]);
                        }
                        dst[hi..].fill(0.0);
                    } else {
                        for (q, d) in dst.iter_mut().enumerate() {
                            let ix = ix0 + (q * self.sw) as i64;
                            *d = if ix >= 0 && ix < w as i64 { src[ix as usize] } else { 0.0 };
                        }
                    }
                }
                j += run;
                t += run;
            }
            row[wdt..].fill(0.0);
        }
    }
}
