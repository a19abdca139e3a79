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
                    zero(dst);
                } else {
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    let ix0 = (ox * self.sw + b * self.dw) as i64 - self.pw;
                    if self.sw == 1 {
                        let lo = (-ix0).clamp(0, run as i64) as usize;
                        let hi = (w as i64 - ix0).clamp(lo as i64, run as i64) as usize;
                        zero(&mut dst[..lo]);
                        if hi > lo {
                            let s0 = (ix0 + lo as i64) as usize;
                            copy_run(&mut dst[lo..hi], &src[s0..s0 + (hi - lo)]);
                        }
                        zero(&mut dst[hi..]);
                    } else {
                        // Outputs `lo..hi` read inside the row (`0 <= ix0 + q·sw < w`), the rest are
                        // padding.
                        let sw = self.sw as i64;
                        let lo = ((-ix0).max(0) + sw - 1) / sw;
                        let hi = ((w as i64 - ix0).max(0) + sw - 1) / sw;
                        let (lo, hi) = (lo.min(run as i64) as usize, hi.clamp(lo, run as i64) as usize);
                        zero(&mut dst[..lo]);
                        if hi > lo {
                            let s0 = (ix0 + (lo * self.sw) as i64) as usize;
                            strided_copy(&mut dst[lo..hi], &src[s0..s0 + (hi - lo - 1) * self.sw + 1], self.sw);
                        }
                        zero(&mut dst[hi..]);
                    }
                }
                j += run;
                t += run;
            }
            zero(&mut row[wdt..]);
        }
    }
}

/// Zeroes `d`: the padding runs of a panel row are mostly empty or a value or two, where a
/// `memset` call costs more than the stores.
#[inline(always)]
fn zero(d: &mut [f32]) {
    if d.len() <= 4 {
        for v in d {
            *v = 0.0;
        }
    } else {
        d.fill(0.0);
    }
}

/// `dst[q] = src[q·step]` for every `q` (`src` holds `(dst.len() - 1)·step + 1` values): stride-2
/// runs (the stride-2 3×3 convs) by AVX-512 two-vector permutes, 16 outputs at a time.
#[inline]
fn strided_copy(dst: &mut [f32], src: &[f32], step: usize) {
    assert!(!dst.is_empty() && src.len() > (dst.len() - 1) * step);
    #[cfg(target_arch = "x86_64")]
    if step == 2 && dst.len() >= 4 && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F checked; lengths checked above.
        unsafe { stride2_avx512(dst, src) };
        return;
    }
    for (q, d) in dst.iter_mut().enumerate() {
        *d = src[q * step];
    }
}

/// [`strided_copy`] with step 2. Safety: AVX-512F; `src.len() >= 2·dst.len() - 1`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn stride2_avx512(dst: &mut [f32], src: &[f32]) {
    use std::arch::x86_64::*;
    let idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let (n, avail) = (dst.len(), src.len());
    let mask = |k: usize| if k >= 16 { 0xffffu16 } else { ((1u32 << k) - 1) as u16 };
    let mut q = 0;
    while q < n {
        let cnt = (n - q).min(16);
        // Source values `2q .. 2q + 2cnt - 1` (those past the end masked off: not read).
        let base = 2 * q;
        let left = avail - base;
        let a = _mm512_maskz_loadu_ps(mask(left), src.as_ptr().add(base));
        let b = _mm512_maskz_loadu_ps(mask(left.saturating_sub(16)), src.as_ptr().wrapping_add(base + 16));
        _mm512_mask_storeu_ps(dst.as_mut_ptr().add(q), mask(cnt), _mm512_permutex2var_ps(a, idx, b));
        q += cnt;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strided_copy_matches_scalar() {
        let src: Vec<f32> = (0..200).map(|i| i as f32 * 0.5 - 7.0).collect();
        for step in [2, 3] {
            for n in 1..=60 {
                for off in [0, 1, 5] {
                    let len = (n - 1) * step + 1;
                    let s = &src[off..off + len];
                    let mut got = vec![f32::NAN; n + 3];
                    super::strided_copy(&mut got[..n], s, step);
                    let want: Vec<f32> = (0..n).map(|q| s[q * step]).collect();
                    assert_eq!(&got[..n], &want[..], "step {step} n {n} off {off}");
                    assert!(got[n..].iter().all(|v| v.is_nan()), "wrote past the end");
                }
            }
        }
    }
}
