//! Channel-blocked depthwise kernel for small planes (MobileNet/EfficientNet's 28×28, 14×14 and
//! 7×7 layers): 8 channels at once, one per vector lane, so a 7-wide row costs no wasted lanes and
//! there is one set of loop and call overheads per 8 channels instead of per plane.
//!
//! Per block of 8 channels of one image: the input planes are copied into a zero-padded
//! interleaved scratch `[padded row][padded column][8]` (the NCHWc layout, kept inside the op),
//! the weights into `[tap][8]`; output pixels are computed in tiles of 4 columns of one row
//! (4 accumulators, one weight vector per tap, one input vector per tap and column), bias as
//! the initial value, Relu/Clip in registers, into an interleaved output scratch that is then
//! copied back to the 8 NCHW output planes (other activations run over those planes). Any
//! kernel size, stride and dilation, pads ≥ 0, channel multipliers; AVX2+FMA.

use crate::ops::fused::Activation;
use crate::ops::nn::conv::ConvShape;

/// Channels per block of the AVX2 kernel (one per lane).
const CB: usize = 8;
/// Channels per block of the AVX-512 kernel.
const CB16: usize = 16;

/// The geometry the block kernel reads: padded plane `hp × wp`, output `oh × ow`, kernel,
/// strides and dilations.
#[derive(Clone, Copy, Debug)]
struct Geo {
    hp: usize,
    wp: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
}

impl Geo {
    fn ksize(&self) -> usize {
        self.kh * self.kw
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Geo, CB};
    use std::arch::x86_64::*;

    /// Output row `oy`, columns `ox..ox+T` of the 8 interleaved channels.
    /// Safety: the padded input holds rows `oy·sh + (kh-1)·dh` and columns
    /// `(ox+T-1)·sw + (kw-1)·dw` (`hp × wp × 8`), `w` holds `kh·kw·8`, `dst` `oh·ow·8` values.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const T: usize>(
        g: &Geo,
        src: *const f32,
        w: *const f32,
        init: __m256,
        lo: __m256,
        hi: __m256,
        oy: usize,
        ox: usize,
        dst: *mut f32,
    ) {
        let mut acc = [init; T];
        let col = CB * g.sw;
        for a in 0..g.kh {
            let row = src.add(((oy * g.sh + a * g.dh) * g.wp + ox * g.sw) * CB);
            let wr = w.add(a * g.kw * CB);
            for b in 0..g.kw {
                let wv = _mm256_loadu_ps(wr.add(b * CB));
                let p = row.add(b * g.dw * CB);
                for (t, acc_t) in acc.iter_mut().enumerate() {
                    *acc_t = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p.add(t * col)), *acc_t);
                }
            }
        }
        let out = dst.add((oy * g.ow + ox) * CB);
        for (t, a) in acc.iter().enumerate() {
            // max(lo, a) / min(hi, a) return `a` when it is NaN (x86 takes the 2nd operand).
            _mm256_storeu_ps(out.add(t * CB), _mm256_min_ps(hi, _mm256_max_ps(lo, *a)));
        }
    }

    /// The 8×8 transpose of `r` (row `i` lane `j` → row `j` lane `i`). Written without closures:
    /// those would not inherit the caller's target features, and the intrinsics would not inline.
    #[inline(always)]
    pub(super) unsafe fn transpose8(r: &mut [__m256; 8]) {
        let (t0, t1) = (_mm256_unpacklo_ps(r[0], r[1]), _mm256_unpackhi_ps(r[0], r[1]));
        let (t2, t3) = (_mm256_unpacklo_ps(r[2], r[3]), _mm256_unpackhi_ps(r[2], r[3]));
        let (t4, t5) = (_mm256_unpacklo_ps(r[4], r[5]), _mm256_unpackhi_ps(r[4], r[5]));
        let (t6, t7) = (_mm256_unpacklo_ps(r[6], r[7]), _mm256_unpackhi_ps(r[6], r[7]));
        let (s0, s1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
        let (s2, s3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
        let (s4, s5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
        let (s6, s7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
        r[0] = _mm256_permute2f128_ps::<0x20>(s0, s4);
        r[1] = _mm256_permute2f128_ps::<0x20>(s1, s5);
        r[2] = _mm256_permute2f128_ps::<0x20>(s2, s6);
        r[3] = _mm256_permute2f128_ps::<0x20>(s3, s7);
        r[4] = _mm256_permute2f128_ps::<0x31>(s0, s4);
        r[5] = _mm256_permute2f128_ps::<0x31>(s1, s5);
        r[6] = _mm256_permute2f128_ps::<0x31>(s2, s6);
        r[7] = _mm256_permute2f128_ps::<0x31>(s3, s7);
    }

    /// Interleaves 8 `h × w` planes into the padded scratch: pixel `(y, x)` of plane `c` to
    /// `dst[((y + pt)·wp + x + pl)·8 + c]`; 8 pixels per transpose.
    /// Safety: AVX2 is available (the lengths are asserted).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn pack8(planes: [&[f32]; CB], hw: [usize; 2], pt: usize, pl: usize, wp: usize, dst: &mut [f32]) {
        let [h, w] = hw;
        let len = h * w;
        if len == 0 {
            return;
        }
        assert!(
            planes.iter().all(|p| p.len() >= len) && w + pl <= wp && dst.len() >= ((h - 1 + pt) * wp + w + pl) * CB
        );
        let at = |p: usize| ((p / w + pt) * wp + p % w + pl) * CB;
        let d = dst.as_mut_ptr();
        let mut p = 0;
        while p + 8 <= len {
            let mut r = [_mm256_setzero_ps(); 8];
            for (v, s) in r.iter_mut().zip(&planes) {
                *v = _mm256_loadu_ps(s.as_ptr().add(p));
            }
            transpose8(&mut r);
            for (i, v) in r.iter().enumerate() {
                _mm256_storeu_ps(d.add(at(p + i)), *v);
            }
            p += 8;
        }
        for p in p..len {
            for (c, s) in planes.iter().enumerate() {
                dst[at(p) + c] = s[p];
            }
        }
    }

    /// De-interleaves `src` (`[plane][8]`) into 8 consecutive planes of `dst`.
    /// Safety: AVX2 is available (the lengths are asserted).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn unpack8(src: &[f32], plane: usize, dst: &mut [f32]) {
        assert!(src.len() >= plane * CB && dst.len() >= plane * CB);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let mut p = 0;
        while p + 8 <= plane {
            let mut r = [_mm256_setzero_ps(); 8];
            for (i, v) in r.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(s.add((p + i) * CB));
            }
            transpose8(&mut r);
            for (c, v) in r.iter().enumerate() {
                _mm256_storeu_ps(d.add(c * plane + p), *v);
            }
            p += 8;
        }
        for p in p..plane {
            for c in 0..CB {
                dst[c * plane + p] = src[p * CB + c];
            }
        }
    }

    /// All `oh × ow` interleaved outputs of one block: `dst = clamp(bias + Σ taps, lo, hi)`.
    /// Safety: AVX2 and FMA are available (the lengths are asserted).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn block(g: &Geo, src: &[f32], w: &[f32], bias: &[f32; CB], lo: f32, hi: f32, dst: &mut [f32]) {
        assert!(src.len() >= g.hp * g.wp * CB && w.len() >= g.ksize() * CB && dst.len() >= g.oh * g.ow * CB);
        assert!(g.oh == 0 || (g.oh - 1) * g.sh + (g.kh - 1) * g.dh < g.hp);
        assert!(g.ow == 0 || (g.ow - 1) * g.sw + (g.kw - 1) * g.dw < g.wp);
        let (s, wp, d) = (src.as_ptr(), w.as_ptr(), dst.as_mut_ptr());
        let (init, lo, hi) = (_mm256_loadu_ps(bias.as_ptr()), _mm256_set1_ps(lo), _mm256_set1_ps(hi));
        for oy in 0..g.oh {
            let mut ox = 0;
            while ox + 4 <= g.ow {
                tile::<4>(g, s, wp, init, lo, hi, oy, ox, d);
                ox += 4;
            }
            match g.ow - ox {
                3 => tile::<3>(g, s, wp, init, lo, hi, oy, ox, d),
                2 => tile::<2>(g, s, wp, init, lo, hi, oy, ox, d),
                1 => tile::<1>(g, s, wp, init, lo, hi, oy, ox, d),
                _ => {}
            }
        }
    }
}

/// The AVX-512 kernel: 16 channels per block (`[padded row][padded column][16]`), tiles of up to
/// 8 columns of one row; packing and unpacking by two 8×8 transposes per 8 pixels.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::avx2::transpose8;
    use super::{Geo, CB16};
    use std::arch::x86_64::*;

    /// Output row `oy`, columns `ox..ox+T` of the 16 interleaved channels (as `avx2::tile`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const T: usize>(
        g: &Geo,
        src: *const f32,
        w: *const f32,
        init: __m512,
        lo: __m512,
        hi: __m512,
        oy: usize,
        ox: usize,
        dst: *mut f32,
    ) {
        let mut acc = [init; T];
        let col = CB16 * g.sw;
        for a in 0..g.kh {
            let row = src.add(((oy * g.sh + a * g.dh) * g.wp + ox * g.sw) * CB16);
            let wr = w.add(a * g.kw * CB16);
            for b in 0..g.kw {
                let wv = _mm512_loadu_ps(wr.add(b * CB16));
                let p = row.add(b * g.dw * CB16);
                for (t, acc_t) in acc.iter_mut().enumerate() {
                    *acc_t = _mm512_fmadd_ps(wv, _mm512_loadu_ps(p.add(t * col)), *acc_t);
                }
            }
        }
        let out = dst.add((oy * g.ow + ox) * CB16);
        for (t, a) in acc.iter().enumerate() {
            // max(lo, a) / min(hi, a) return `a` when it is NaN (x86 takes the 2nd operand).
            _mm512_storeu_ps(out.add(t * CB16), _mm512_min_ps(hi, _mm512_max_ps(lo, *a)));
        }
    }

    /// Interleaves 16 `h × w` planes into the padded scratch: pixel `(y, x)` of plane `c` to
    /// `dst[((y + pt)·wp + x + pl)·16 + c]`.
    /// Safety: AVX-512F is available (the lengths are asserted).
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn pack16(planes: [&[f32]; CB16], hw: [usize; 2], pt: usize, pl: usize, wp: usize, dst: &mut [f32]) {
        let [h, w] = hw;
        let len = h * w;
        if len == 0 {
            return;
        }
        assert!(
            planes.iter().all(|p| p.len() >= len) && w + pl <= wp && dst.len() >= ((h - 1 + pt) * wp + w + pl) * CB16
        );
        let at = |p: usize| ((p / w + pt) * wp + p % w + pl) * CB16;
        let d = dst.as_mut_ptr();
        let mut p = 0;
        while p + 8 <= len {
            for half in 0..2 {
                let mut r = [_mm256_setzero_ps(); 8];
                for (v, s) in r.iter_mut().zip(&planes[8 * half..8 * half + 8]) {
                    *v = _mm256_loadu_ps(s.as_ptr().add(p));
                }
                transpose8(&mut r);
                for (i, v) in r.iter().enumerate() {
                    _mm256_storeu_ps(d.add(at(p + i) + 8 * half), *v);
                }
            }
            p += 8;
        }
        for p in p..len {
            for (c, s) in planes.iter().enumerate() {
                dst[at(p) + c] = s[p];
            }
        }
    }

    /// De-interleaves `src` (`[plane][16]`) into 16 consecutive planes of `dst`.
    /// Safety: AVX-512F is available (the lengths are asserted).
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn unpack16(src: &[f32], plane: usize, dst: &mut [f32]) {
        assert!(src.len() >= plane * CB16 && dst.len() >= plane * CB16);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        let mut p = 0;
        while p + 8 <= plane {
            for half in 0..2 {
                let mut r = [_mm256_setzero_ps(); 8];
                for (i, v) in r.iter_mut().enumerate() {
                    *v = _mm256_loadu_ps(s.add((p + i) * CB16 + 8 * half));
                }
                transpose8(&mut r);
                for (c, v) in r.iter().enumerate() {
                    _mm256_storeu_ps(d.add((8 * half + c) * plane + p), *v);
                }
            }
            p += 8;
        }
        for p in p..plane {
            for c in 0..CB16 {
                dst[c * plane + p] = src[p * CB16 + c];
            }
        }
    }

    /// All `oh × ow` interleaved outputs of one block: `dst = clamp(bias + Σ taps, lo, hi)`.
    /// Safety: AVX-512F is available (the lengths are asserted).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn block(g: &Geo, src: &[f32], w: &[f32], bias: &[f32; CB16], lo: f32, hi: f32, dst: &mut [f32]) {
        assert!(src.len() >= g.hp * g.wp * CB16 && w.len() >= g.ksize() * CB16 && dst.len() >= g.oh * g.ow * CB16);
        assert!(g.oh == 0 || (g.oh - 1) * g.sh + (g.kh - 1) * g.dh < g.hp);
        assert!(g.ow == 0 || (g.ow - 1) * g.sw + (g.kw - 1) * g.dw < g.wp);
        let (s, wp, d) = (src.as_ptr(), w.as_ptr(), dst.as_mut_ptr());
        let (init, lo, hi) = (_mm512_loadu_ps(bias.as_ptr()), _mm512_set1_ps(lo), _mm512_set1_ps(hi));
        for oy in 0..g.oh {
            let mut ox = 0;
            while ox + 7 <= g.ow {
                tile::<7>(g, s, wp, init, lo, hi, oy, ox, d);
                ox += 7;
            }
            match g.ow - ox {
                6 => tile::<6>(g, s, wp, init, lo, hi, oy, ox, d),
                5 => tile::<5>(g, s, wp, init, lo, hi, oy, ox, d),
                4 => tile::<4>(g, s, wp, init, lo, hi, oy, ox, d),
                3 => tile::<3>(g, s, wp, init, lo, hi, oy, ox, d),
                2 => tile::<2>(g, s, wp, init, lo, hi, oy, ox, d),
                1 => tile::<1>(g, s, wp, init, lo, hi, oy, ox, d),
                _ => {}
            }
        }
    }
}

/// Whether [`depthwise_blocked`] computes `cs`: a 2-D depthwise convolution (one input channel
/// per group) with pads ≥ 0, on a CPU with AVX2+FMA.
pub fn applies(cs: &ConvShape) -> bool {
    cfg!(target_arch = "x86_64")
        && crate::simd::level() != crate::simd::Level::Scalar
        && cs.in_sp.len() == 2
        && cs.c == cs.group
        && cs.geo.pads_begin.iter().all(|&p| p >= 0)
}

/// The padded-plane geometry of `cs`.
fn geo(cs: &ConvShape) -> Geo {
    let g = &cs.geo;
    let [oh, ow] = [g.out[0], g.out[1]];
    let span = |o: usize, s: usize, k: usize, d: usize| if o == 0 { 0 } else { (o - 1) * s + (k - 1) * d + 1 };
    Geo {
        hp: span(oh, g.strides[0], g.kernel[0], g.dilations[0]),
        wp: span(ow, g.strides[1], g.kernel[1], g.dilations[1]),
        oh,
        ow,
        kh: g.kernel[0],
        kw: g.kernel[1],
        sh: g.strides[0],
        sw: g.strides[1],
        dh: g.dilations[0],
        dw: g.dilations[1],
    }
}

/// The scratch of one task: padded interleaved input, interleaved output, weights.
struct Scratch {
    pad: Vec<f32>,
    out: Vec<f32>,
    w: Vec<f32>,
    /// `pad` is zero outside the interior the packing writes (and no block wrote there since).
    zero_border: bool,
}

/// Copies rows `0..rows`, columns `0..cols` of planes `0..cb` (each `w` wide, from
/// `plane_of`) into the padded interleaved scratch (`C` lanes) at `(pt, pl)`.
#[allow(clippy::too_many_arguments)]
fn pack_scalar<'a, const C: usize>(
    plane_of: &impl Fn(usize) -> &'a [f32],
    cb: usize,
    w: usize,
    [rows, cols]: [usize; 2],
    pt: usize,
    pl: usize,
    wp: usize,
    pad: &mut [f32],
) {
    for c in 0..cb {
        for (iy, srow) in plane_of(c).chunks_exact(w).take(rows).enumerate() {
            let drow = &mut pad[((iy + pt) * wp + pl) * C..][..cols * C];
            for (d, s) in drow.chunks_exact_mut(C).zip(&srow[..cols]) {
                d[c] = *s;
            }
        }
    }
}

/// `dst` (consecutive planes) from the interleaved `src` (`[plane][C]`).
fn unpack_scalar<const C: usize>(src: &[f32], plane: usize, dst: &mut [f32]) {
    for (c, yc) in dst.chunks_exact_mut(plane).enumerate() {
        for (d, s) in yc.iter_mut().zip(src.chunks_exact(C)) {
            *d = s[c];
        }
    }
}

/// Output channels `ch0..ch0 + ys.len() / plane` of image `n` into `ys` (NCHW planes), `C`
/// channels per block (8: AVX2 kernel, 16: AVX-512 kernel).
#[allow(clippy::too_many_arguments)]
fn channels<const C: usize>(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    n: usize,
    ch0: usize,
    ys: &mut [f32],
    sc: &mut Scratch,
) {
    let g = geo(cs);
    let ([h, wi], plane, ks) = ([cs.in_sp[0], cs.in_sp[1]], g.oh * g.ow, g.ksize());
    let [pt, pl] = [cs.geo.pads_begin[0] as usize, cs.geo.pads_begin[1] as usize];
    let mg = cs.m / cs.group;
    let (lo, hi, post) = act.clamp_or_post();
    // Input rows/columns that land inside the padded plane.
    let (rows, cols) = (h.min(g.hp.saturating_sub(pt)), wi.min(g.wp.saturating_sub(pl)));
    for (bi, yb) in ys.chunks_mut(C * plane).enumerate() {
        let c0 = ch0 + bi * C;
        let cb = yb.len() / plane.max(1);
        // Zero the border (and the whole plane when lanes are unused), then the interior. The
        // packing writes only the interior, so the border stays zero for the call's next blocks.
        let pad = &mut sc.pad[..g.hp * g.wp * C];
        let border = pt > 0 || pl > 0 || rows + pt < g.hp || cols + pl < g.wp;
        if cb < C || (border && !sc.zero_border) {
            pad.fill(0.0);
            sc.zero_border = true;
        }
        let plane_of = |c: usize| &x[(n * cs.c + (c0 + c) / mg) * h * wi..][..h * wi];
        let full = cb == C && rows == h && cols == wi;
        let mut bias = [0f32; CB16];
        for (c, bc) in bias.iter_mut().enumerate().take(cb) {
            *bc = b.map_or(0.0, |b| b[c0 + c]);
        }
        // The block's weights tap-major, `C` lanes per tap (zero past `cb`): contiguous stores.
        let wc = &w[c0 * ks..(c0 + cb) * ks];
        for (t, row) in sc.w[..ks * C].chunks_exact_mut(C).enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = if c < cb { wc[c * ks + t] } else { 0.0 };
            }
        }
        let wb = &sc.w[..ks * C];
        let out = &mut sc.out[..plane * C];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `applies` checked AVX2+FMA, and `depthwise_blocked` takes `C = 16` only where
        // `simd::level()` is AVX-512; the kernels assert the buffer lengths and that the windows
        // stay inside the padded plane.
        unsafe {
            if C == CB16 {
                if full {
                    avx512::pack16(std::array::from_fn(plane_of), [h, wi], pt, pl, g.wp, pad);
                } else {
                    pack_scalar::<C>(&plane_of, cb, wi, [rows, cols], pt, pl, g.wp, pad);
                }
                avx512::block(&g, pad, wb, &bias, lo, hi, out);
                if cb == C {
                    avx512::unpack16(out, plane, yb);
                } else {
                    unpack_scalar::<C>(out, plane, yb);
                }
            } else {
                if full {
                    avx2::pack8(std::array::from_fn(plane_of), [h, wi], pt, pl, g.wp, pad);
                } else {
                    pack_scalar::<C>(&plane_of, cb, wi, [rows, cols], pt, pl, g.wp, pad);
                }
                let b8 = <&[f32; CB]>::try_from(&bias[..CB]).unwrap();
                avx2::block(&g, pad, wb, b8, lo, hi, out);
                if cb == C {
                    avx2::unpack8(out, plane, yb);
                } else {
                    unpack_scalar::<C>(out, plane, yb);
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (full, lo, hi, out, bias);
        if let Some(f) = post {
            crate::simd::map_inplace(f, yb);
        }
    }
}

/// All planes of the depthwise convolution `cs` into `y` (`[N, M, OH, OW]`), 8 channels at a
/// time (16 with AVX-512 where `wide`); parallel over images when there are enough of them,
/// else over channel blocks. Callers check [`applies`].
pub fn depthwise_blocked(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
    wide: bool,
) {
    if wide && crate::simd::level() == crate::simd::Level::Avx512 && super::avx512_enabled() {
        blocked_with::<CB16>(x, w, b, cs, act, y)
    } else {
        blocked_with::<CB>(x, w, b, cs, act, y)
    }
}

fn blocked_with<const C: usize>(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) {
    let g = geo(cs);
    let plane = g.oh * g.ow;
    let image = cs.m * plane;
    if image == 0 {
        return;
    }
    let blocks = cs.m.div_ceil(C);
    let threads = crate::threads::current();
    let new_scratch = || Scratch {
        pad: crate::memory::alloc_for_overwrite(g.hp * g.wp * C),
        out: crate::memory::alloc_for_overwrite(plane * C),
        w: crate::memory::alloc_for_overwrite(g.ksize() * C),
        zero_border: false,
    };
    let free = |sc: Scratch| {
        crate::memory::recycle(sc.pad);
        crate::memory::recycle(sc.out);
        crate::memory::recycle(sc.w);
    };
    let y = &mut y[..cs.n * image];
    if cs.n >= threads || threads == 1 {
        let per = cs.n.div_ceil(threads.min(cs.n));
        let run = |t: usize, ys: &mut [f32]| {
            let mut sc = new_scratch();
            for (k, yn) in ys.chunks_mut(image).enumerate() {
                channels::<C>(x, w, b, cs, act, t * per + k, 0, yn, &mut sc);
            }
            free(sc);
        };
        if threads > 1 {
            crate::threads::for_each_chunk(y, per * image, run);
        } else {
            run(0, y);
        }
        return;
    }
    // Fewer images than threads: channel blocks of each image over the pool.
    let per = blocks.div_ceil(threads.div_ceil(cs.n).min(blocks)) * C;
    for (n, yn) in y.chunks_mut(image).enumerate() {
        crate::threads::for_each_chunk(yn, per * plane, |t, ys| {
            let mut sc = new_scratch();
            channels::<C>(x, w, b, cs, act, n, t * per, ys, &mut sc);
            free(sc);
        });
    }
}
