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
        // The panel's runs of output positions along one output row, the same for every K row:
        // (first column in the panel, length, oy·sh, ox·sw), found once per panel instead of by
        // two divisions per run and row.
        let mut runs = [(0usize, 0usize, 0usize, 0usize); MAX_RUNS];
        let mut nruns = 0;
        let (mut j, mut t) = (0, t0);
        while j < wdt && nruns < MAX_RUNS {
            let (oy, ox) = (t / ow, t % ow);
            let run = (ow - ox).min(wdt - j);
            runs[nruns] = (j, run, oy * self.sh, ox * self.sw);
            nruns += 1;
            j += run;
            t += run;
        }
        if j < wdt {
            // More runs than the table holds (images narrower than a panel by far): one per call.
            return self.pack_slow(p0, kc, t0, wdt, r, dst);
        }
        let runs = &runs[..nruns];
        // (c, a, b) of K row `p0`, then stepped along the rows.
        let (mut c, rem) = (p0 / kk, p0 % kk);
        let (mut a, mut b) = (rem / self.kw, rem % self.kw);
        for row in dst[..kc * r].chunks_exact_mut(r) {
            let plane = &self.x[c * h * w..(c + 1) * h * w];
            for &(j, run, oy_sh, ox_sw) in runs {
                let dst = &mut row[j..j + run];
                self.fill_run(plane, oy_sh, ox_sw, a, b, dst);
            }
            zero(&mut row[wdt..]);
            b += 1;
            if b == self.kw {
                b = 0;
                a += 1;
                if a == self.kh {
                    a = 0;
                    c += 1;
                }
            }
        }
    }
}

/// Most runs of a panel [`Im2col2d::pack`] precomputes (a 32-wide panel of 1-wide output rows
/// has 32).
const MAX_RUNS: usize = 40;

impl Im2col2d<'_> {
    /// One run of output positions `(oy, ox..ox + dst.len())` (given as `oy·sh`, `ox·sw`) of tap
    /// `(a, b)` of channel `plane` into `dst`.
    #[inline(always)]
    fn fill_run(&self, plane: &[f32], oy_sh: usize, ox_sw: usize, a: usize, b: usize, dst: &mut [f32]) {
        let (h, w, run) = (self.h, self.w, dst.len());
        let iy = (oy_sh + a * self.dh) as i64 - self.ph;
        if iy < 0 || iy >= h as i64 {
            zero(dst);
            return;
        }
        let src = &plane[iy as usize * w..(iy as usize + 1) * w];
        let ix0 = (ox_sw + b * self.dw) as i64 - self.pw;
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
            // Outputs `lo..hi` read inside the row (`0 <= ix0 + q·sw < w`), the rest are padding.
            let ceil_div = |v: i64| if self.sw == 2 { (v + 1) >> 1 } else { (v + self.sw as i64 - 1) / self.sw as i64 };
            let lo = ceil_div((-ix0).max(0));
            let hi = ceil_div((w as i64 - ix0).max(0));
            let (lo, hi) = (lo.min(run as i64) as usize, hi.clamp(lo, run as i64) as usize);
            zero(&mut dst[..lo]);
            if hi > lo {
                let s0 = (ix0 + (lo * self.sw) as i64) as usize;
                strided_copy(&mut dst[lo..hi], &src[s0..s0 + (hi - lo - 1) * self.sw + 1], self.sw);
            }
            zero(&mut dst[hi..]);
        }
    }

    /// [`PackSrc::pack`] decomposing each run per row (any number of runs).
    fn pack_slow(&self, p0: usize, kc: usize, t0: usize, wdt: usize, r: usize, dst: &mut [f32]) {
        let kk = self.kh * self.kw;
        for (pp, row) in dst[..kc * r].chunks_exact_mut(r).enumerate() {
            let p = p0 + pp;
            let (c, rem) = (p / kk, p % kk);
            let (a, b) = (rem / self.kw, rem % self.kw);
            let plane = &self.x[c * self.h * self.w..(c + 1) * self.h * self.w];
            let (mut j, mut t) = (0, t0);
            while j < wdt {
                let (oy, ox) = (t / self.ow, t % self.ow);
                let run = (self.ow - ox).min(wdt - j);
                self.fill_run(plane, oy * self.sh, ox * self.sw, a, b, &mut row[j..j + run]);
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
pub(super) fn strided_copy(dst: &mut [f32], src: &[f32], step: usize) {
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
    use super::Im2col2d;
    use crate::ops::gemm::{PackSrc, Strided};
    use crate::ops::nn::common::{AutoPad, Window};
    use crate::ops::nn::conv::{im2col, ConvShape};

    #[test]
    fn implicit_im2col_packs_like_explicit() {
        // Panels from the image against the explicit `[C·kh·kw, OH·OW]` matrix packed strided:
        // strides 1..3, dilations, pads, output rows of 1..9 (up to 64 runs a panel: the per-row
        // fallback), panel widths 12 / 32 / 64, K offsets, ragged last panels.
        let mut rng = crate::ops::nn::conv::tests::Lcg(31);
        for case in 0..40 {
            let (c, h, w) = (1 + rng.below(3), 1 + rng.below(12), 1 + rng.below(9));
            let (kh, kw) = (1 + rng.below(3), 1 + rng.below(3));
            let s = 1 + rng.below(3) as i64;
            let d = 1 + rng.below(2) as i64;
            let win = Window {
                kernel_shape: None,
                strides: Some(vec![s, s]),
                dilations: Some(vec![d, d]),
                pads: Some((0..4).map(|_| rng.below(3) as i64).collect()),
                auto_pad: AutoPad::NotSet,
                ceil_mode: false,
            };
            let Ok(cs) = ConvShape::new(&[1, c, h, w], &[1, c, kh, kw], &win, 1) else { continue };
            let x: Vec<f32> = (0..c * h * w).map(|_| rng.float() as f32).collect();
            let (k, n) = (c * kh * kw, cs.geo.out.iter().product::<usize>());
            if n == 0 {
                continue;
            }
            let mut col = vec![0f32; k * n];
            im2col(&x, c, &cs.in_sp, &cs.geo, &mut col);
            let want = Strided::new(&col, k, n, n, 1).unwrap();
            let got = Im2col2d::new(&x, c, &cs.in_sp, &cs.geo);
            for r in [12, 32, 64] {
                for t0 in (0..n).step_by(5) {
                    let wdt = r.min(n - t0);
                    let p0 = rng.below(k as u64);
                    let kc = k - p0;
                    let (mut a, mut b) = (vec![f32::NAN; kc * r], vec![f32::NAN; kc * r]);
                    got.pack(p0, kc, t0, wdt, r, &mut a);
                    want.pack(p0, kc, t0, wdt, r, &mut b);
                    assert_eq!(a, b, "case {case} {:?} r {r} t0 {t0} p0 {p0}", cs.geo);
                }
            }
        }
    }

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
