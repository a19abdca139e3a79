//! Direct 2-D depthwise convolution (one input channel per group), parallel over
//! `(image, channel)` planes.
//!
//! Fast path (AVX2+FMA, dilation 1, any stride): each input plane is first copied into a
//! zero-padded scratch plane whose rows are split by stride phase (for stride `s`, phase `p`
//! holds padded columns `p, p+s, p+2s, …`), so tap `b` of output columns `ox..ox+8` is one
//! contiguous 8-float load at `phase(b % s)[ox + b / s]` for every stride. Output rows are then
//! computed 8 (or 32) columns at a time with all `kh·kw` taps accumulated in registers, the bias
//! as the initial value, and the activation applied to the row while it is in L1 — one write of
//! the output, no pass per tap. The scratch planes come from the plan's buffer pool.
//! Without AVX2 (or with dilations) the tap-by-tap reference loop (`conv::depthwise_plane`) runs.

use super::super::conv::depthwise_plane;
use super::padded::{pad_plane, Padded};
use super::{split_zip, ConvShape};
use crate::ops::fused::Activation;

/// `V` vectors (8·V output columns from `ox`) of one output row into `out` (a partial last
/// vector goes through a stack buffer). `p` points at the row's first padded input row.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const V: usize, const P: usize>(
    p: *const f32,
    tap_off: &impl Fn(usize, usize) -> usize,
    wk: &[f32],
    kh: usize,
    kw: usize,
    bias: f32,
    out: &mut [f32],
    ox: usize,
) {
    use std::arch::x86_64::*;
    // P partial sums per vector (kernel row `a` feeds set `a % P`) shorten the FMA chains.
    let mut acc = [[_mm256_setzero_ps(); V]; P];
    for a0 in (0..kh).step_by(P) {
        // `acc` is indexed by constants only (unrolled), so it stays in registers.
        for (pi, set) in acc.iter_mut().enumerate() {
            let a = a0 + pi;
            if a >= kh {
                break;
            }
            for b in 0..kw {
                let wv = _mm256_set1_ps(wk[a * kw + b]);
                let q = p.add(tap_off(a, b) + ox);
                for (i, v) in set.iter_mut().enumerate() {
                    *v = _mm256_fmadd_ps(wv, _mm256_loadu_ps(q.add(8 * i)), *v);
                }
            }
        }
    }
    let acc: [__m256; V] =
        std::array::from_fn(|i| acc.iter().fold(_mm256_set1_ps(bias), |s, set| _mm256_add_ps(s, set[i])));
    if out.len() >= 8 * V {
        for (i, v) in acc.iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(8 * i), *v);
        }
    } else {
        let mut tmp = [0f32; 8];
        _mm256_storeu_ps(tmp.as_mut_ptr(), acc[0]);
        let n = out.len();
        out.copy_from_slice(&tmp[..n]);
    }
}

/// One output plane from its padded input: `dst = act(bias + Σ taps)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn plane_avx2(pad: &[f32], pd: Padded, wk: &[f32], cs: &ConvShape, bias: f32, act: Activation, dst: &mut [f32]) {
    let g = &cs.geo;
    let (kh, kw, sh) = (g.kernel[0], g.kernel[1], g.strides[0]);
    let (oh, ow) = (g.out[0], g.out[1]);
    let f = act.simd_f32();
    let pad = &pad[..pd.len()];
    let wk = &wk[..kh * kw];
    for (y, drow) in dst[..oh * ow].chunks_exact_mut(ow).enumerate() {
        let rows = &pad[y * sh * pd.row_len..(y * sh + kh) * pd.row_len];
        // Tap (a, b) of output column `ox` reads `rows[tap_off(a, b) + ox]`.
        let tap_off = |a: usize, b: usize| a * pd.row_len + pd.col_off(b);
        let mut ox = 0;
        // SAFETY (both loops): `ox + 8·V <= ow.next_multiple_of(8)`, so every load of `block`
        // stays within row `a` of `rows` (`phase_len` has room for it plus `b / sw`).
        while ox + 32 <= ow {
            unsafe { block::<4, 2>(rows.as_ptr(), &tap_off, wk, kh, kw, bias, &mut drow[ox..], ox) };
            ox += 32;
        }
        while ox < ow {
            unsafe { block::<1, 3>(rows.as_ptr(), &tap_off, wk, kh, kw, bias, &mut drow[ox..], ox) };
            ox += 8;
        }
        if let Some(f) = f {
            crate::simd::map_inplace(f, drow);
        }
    }
}

/// One output plane through the reference tap loop: `dst = act(bias + Σ taps)`.
fn plane_ref(src: &[f32], cs: &ConvShape, wk: &[f32], bias: f32, act: Activation, dst: &mut [f32]) {
    dst.fill(bias);
    depthwise_plane(src, cs.in_sp[0], cs.in_sp[1], wk, &cs.geo, dst);
    if let Some(f) = act.simd_f32() {
        crate::simd::map_inplace(f, dst);
    }
}

/// The register-blocked path is off unless `ZENRT_DEPTHWISE=direct`: on the (heavily loaded)
/// 2-core test machine it measured no faster than the reference tap loop on MobileNetV2 /
/// EfficientNet-B0 (CPU time per inference 22.5 vs 20.5 ms, 41 vs 41 ms), so it stays opt-in
/// until it is measured on a quiet machine.
#[cfg(target_arch = "x86_64")]
fn direct_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("ZENRT_DEPTHWISE").is_ok_and(|v| v == "direct"))
}

/// All planes of the depthwise convolution into `y` (`[N, M, OH, OW]`).
pub fn depthwise_f32(x: &[f32], w: &[f32], b: Option<&[f32]>, cs: &ConvShape, act: Activation, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    let direct = direct_enabled();
    #[cfg(not(target_arch = "x86_64"))]
    let direct = false;
    depthwise_with(direct, x, w, b, cs, act, y)
}

/// [`depthwise_f32`], with the register-blocked path allowed when `direct`.
pub(super) fn depthwise_with(
    direct: bool,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) {
    let in_size: usize = cs.in_sp.iter().product();
    let out_size: usize = cs.geo.out.iter().product();
    let planes = cs.n * cs.m;
    let ksize = cs.geo.kernel_size();
    let mg = cs.m / cs.group;
    #[cfg(target_arch = "x86_64")]
    let fast = direct
        && crate::simd::level() != crate::simd::Level::Scalar
        && cs.geo.dilations.iter().all(|&d| d == 1)
        && cs.geo.pads_begin.iter().all(|&p| p >= 0);
    #[cfg(not(target_arch = "x86_64"))]
    let fast = {
        let _ = direct;
        false
    };
    let g = &cs.geo;
    let pd = Padded::new([g.kernel[0], g.kernel[1]], [g.strides[0], g.strides[1]], [g.out[0], g.out[1]]);
    let scratch_len = if fast { pd.len() } else { 1 };
    let parts = crate::threads::current().min(planes).max(1);
    let per = planes.div_ceil(parts);
    let mut scratch = crate::memory::alloc_for_overwrite::<f32>(scratch_len * parts);
    let run = |first: usize, ys: &mut [f32], pad: &mut [f32]| {
        for (k, dst) in ys.chunks_exact_mut(out_size).enumerate() {
            let i = first + k;
            let (n, mo) = (i / cs.m, i % cs.m);
            let src = &x[(n * cs.c + mo / mg) * in_size..][..in_size];
            let wk = &w[mo * ksize..(mo + 1) * ksize];
            let bias = b.map_or(0.0, |b| b[mo]);
            #[cfg(target_arch = "x86_64")]
            if fast {
                pad_plane(src, [cs.in_sp[0], cs.in_sp[1]], [g.pads_begin[0], g.pads_begin[1]], pd, pad);
                // SAFETY: `fast` implies AVX2 and FMA (`simd::level` detected them at run time).
                unsafe { plane_avx2(pad, pd, wk, cs, bias, act, dst) };
                continue;
            }
            let _ = &pad;
            plane_ref(src, cs, wk, bias, act, dst);
        }
    };
    let y = &mut y[..planes * out_size];
    split_zip(parts > 1, y, per * out_size, &mut scratch, scratch_len, |t, ys, pad| run(t * per, ys, pad));
    crate::memory::recycle(scratch);
}
