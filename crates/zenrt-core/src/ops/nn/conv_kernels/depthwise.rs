//! Direct 2-D depthwise convolution (one input channel per group), parallel over
//! `(image, channel)` planes.
//!
//! Fast path (AVX2+FMA; square 3×3, 5×5 or 7×7 kernels; stride 1 or 2; dilation 1): each input
//! plane is first copied into a zero-padded scratch plane whose rows are split by stride phase
//! (for stride `s`, phase `p` holds padded columns `p, p+s, p+2s, …`), so tap `b` of output
//! columns `ox..ox+8` is one contiguous 8-float load at `phase(b % s)[ox + b / s]`. The output
//! is then computed in tiles of up to 4 rows × 16 columns (8 accumulators): every loaded input
//! vector feeds each of the tile's rows that it touches, kernel size and stride are compile-time
//! constants so the tap loops unroll, the bias is the initial value, Relu/Clip are applied in
//! registers and other activations per strip of rows while it is in L1. One write of the
//! output, no pass per tap. The scratch planes come from the plan's buffer pool.
//! Other shapes (dilations, other kernels/strides) and CPUs without AVX2 run the tap-by-tap
//! reference loop (`conv::depthwise_plane`); `ZENRT_DEPTHWISE=ref` forces it (comparisons).

mod blocked;

use super::super::conv::depthwise_plane;
use super::padded::{pad_plane, Padded};
use super::{split_zip, ConvShape};
use crate::ops::fused::Activation;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Activation, Padded};
    use std::arch::x86_64::*;

    /// Where one plane's tiles read and write: the padded input, its layout, the `K×K`
    /// weights, the clamp applied in registers, the output plane (`ow` wide).
    struct Tiles {
        src: *const f32,
        pd: Padded,
        w: *const f32,
        init: __m256,
        lo: __m256,
        hi: __m256,
        dst: *mut f32,
        ow: usize,
    }

    /// `R` output rows from `y` × `V` vectors from column `ox` (the last may be partial:
    /// masked store). Every input vector is loaded once and feeds each tile row it touches.
    /// Safety: rows `y·S .. y·S + (R-1)·S + K` of the padded plane exist, `ox + 8·(V-1) < ow`
    /// and the padded rows hold `ow.next_multiple_of(8)` columns per phase past `(K-1)/S`.
    #[inline(always)]
    unsafe fn tile<const K: usize, const S: usize, const R: usize, const V: usize>(t: &Tiles, y: usize, ox: usize) {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mask = |n: usize| _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), lanes);
        let mut acc = [[t.init; V]; R];
        let base = t.src.add(y * S * t.pd.row_len + ox);
        for i in 0..(R - 1) * S + K {
            let row = base.add(i * t.pd.row_len);
            for b in 0..K {
                let q = row.add((b % S) * t.pd.phase_len + b / S);
                for v in 0..V {
                    let x = _mm256_loadu_ps(q.add(8 * v));
                    for (r, acc_r) in acc.iter_mut().enumerate() {
                        if i >= r * S && i - r * S < K {
                            let w = _mm256_broadcast_ss(&*t.w.add((i - r * S) * K + b));
                            acc_r[v] = _mm256_fmadd_ps(w, x, acc_r[v]);
                        }
                    }
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (v, a) in acc_r.iter().enumerate() {
                // max(lo, a) / min(hi, a) return `a` when it is NaN (x86 takes the 2nd operand).
                let val = _mm256_min_ps(t.hi, _mm256_max_ps(t.lo, *a));
                let col = ox + 8 * v;
                let out = t.dst.add((y + r) * t.ow + col);
                let n = t.ow - col;
                if n >= 8 {
                    _mm256_storeu_ps(out, val);
                } else {
                    _mm256_maskstore_ps(out, mask(n), val);
                }
            }
        }
    }

    /// Output rows `y .. y+R`, all columns, 16 at a time.
    #[inline(always)]
    unsafe fn strip<const K: usize, const S: usize, const R: usize>(t: &Tiles, y: usize) {
        let mut ox = 0;
        while ox + 8 < t.ow {
            tile::<K, S, R, 2>(t, y, ox);
            ox += 16;
        }
        if ox < t.ow {
            tile::<K, S, R, 1>(t, y, ox);
        }
    }

    /// One `oh × ow` output plane from its padded input: `dst = act(bias + Σ taps)`.
    /// Safety: AVX2 and FMA are available; `pad` holds `pd.len()` values laid out by `pd`
    /// (made for `K×K`, stride `S`, `oh × ow`), `w` holds `K·K` weights, `dst` `oh·ow` values.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn plane<const K: usize, const S: usize>(
        pad: &[f32],
        pd: Padded,
        w: &[f32],
        bias: f32,
        act: Activation,
        oh: usize,
        ow: usize,
        dst: &mut [f32],
    ) {
        assert!(pad.len() >= pd.len() && w.len() >= K * K && dst.len() >= oh * ow && pd.sw == S);
        let (lo, hi, post) = act.clamp_or_post();
        let t = Tiles {
            src: pad.as_ptr(),
            pd,
            w: w.as_ptr(),
            init: _mm256_set1_ps(bias),
            lo: _mm256_set1_ps(lo),
            hi: _mm256_set1_ps(hi),
            dst: dst.as_mut_ptr(),
            ow,
        };
        let mut y = 0;
        while y < oh {
            let r = match oh - y {
                4.. => 4,
                2 | 3 => 2,
                _ => 1,
            };
            match r {
                4 => strip::<K, S, 4>(&t, y),
                2 => strip::<K, S, 2>(&t, y),
                _ => strip::<K, S, 1>(&t, y),
            }
            if let Some(f) = post {
                crate::simd::map_inplace(f, &mut dst[y * ow..(y + r) * ow]);
            }
            y += r;
        }
    }
}

/// The AVX-512 plane kernel: as [`avx2`], with 16-lane vectors (tiles of up to 4 rows × 32
/// columns). The last vector of a row is loaded and stored under a mask, so it never reads past
/// the columns the [`Padded`] layout holds (its rows are padded to 8 columns, not 16).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Activation, Padded};
    use std::arch::x86_64::*;

    struct Tiles {
        src: *const f32,
        pd: Padded,
        w: *const f32,
        init: __m512,
        lo: __m512,
        hi: __m512,
        dst: *mut f32,
        ow: usize,
    }

    /// `R` output rows from `y` × `V` vectors of 16 from column `ox`; the last vector holds
    /// `min(16, ow - ox - 16·(V-1))` columns (masked loads and store).
    /// Safety: rows `y·S .. y·S + (R-1)·S + K` of the padded plane exist, `ox + 16·(V-1) < ow`,
    /// and each phase of a padded row holds at least `ow + (K-1)/S` columns.
    #[inline(always)]
    unsafe fn tile<const K: usize, const S: usize, const R: usize, const V: usize>(t: &Tiles, y: usize, ox: usize) {
        let last = (t.ow - ox - 16 * (V - 1)).min(16);
        let m: __mmask16 = ((1u32 << last) - 1) as __mmask16;
        let mut acc = [[t.init; V]; R];
        let base = t.src.add(y * S * t.pd.row_len + ox);
        for i in 0..(R - 1) * S + K {
            let row = base.add(i * t.pd.row_len);
            for b in 0..K {
                let q = row.add((b % S) * t.pd.phase_len + b / S);
                for v in 0..V {
                    let x = if v + 1 == V {
                        _mm512_maskz_loadu_ps(m, q.add(16 * v))
                    } else {
                        _mm512_loadu_ps(q.add(16 * v))
                    };
                    for (r, acc_r) in acc.iter_mut().enumerate() {
                        if i >= r * S && i - r * S < K {
                            let w = _mm512_set1_ps(*t.w.add((i - r * S) * K + b));
                            acc_r[v] = _mm512_fmadd_ps(w, x, acc_r[v]);
                        }
                    }
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (v, a) in acc_r.iter().enumerate() {
                // max(lo, a) / min(hi, a) return `a` when it is NaN (x86 takes the 2nd operand).
                let val = _mm512_min_ps(t.hi, _mm512_max_ps(t.lo, *a));
                let out = t.dst.add((y + r) * t.ow + ox + 16 * v);
                if v + 1 == V {
                    _mm512_mask_storeu_ps(out, m, val);
                } else {
                    _mm512_storeu_ps(out, val);
                }
            }
        }
    }

    /// Output rows `y .. y+R`, all columns, 32 at a time.
    #[inline(always)]
    unsafe fn strip<const K: usize, const S: usize, const R: usize>(t: &Tiles, y: usize) {
        let mut ox = 0;
        while ox + 16 < t.ow {
            tile::<K, S, R, 2>(t, y, ox);
            ox += 32;
        }
        if ox < t.ow {
            tile::<K, S, R, 1>(t, y, ox);
        }
    }

    /// One `oh × ow` output plane from its padded input: `dst = act(bias + Σ taps)`.
    /// Safety: AVX-512F is available; `pad` holds `pd.len()` values laid out by `pd` (made for
    /// `K×K`, stride `S`, `oh × ow`), `w` holds `K·K` weights, `dst` `oh·ow` values.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn plane<const K: usize, const S: usize>(
        pad: &[f32],
        pd: Padded,
        w: &[f32],
        bias: f32,
        act: Activation,
        oh: usize,
        ow: usize,
        dst: &mut [f32],
    ) {
        assert!(pad.len() >= pd.len() && w.len() >= K * K && dst.len() >= oh * ow && pd.sw == S);
        assert!(oh == 0 || (pd.rows >= (oh - 1) * S + K && pd.phase_len >= ow + (K - 1) / S));
        let (lo, hi, post) = act.clamp_or_post();
        let t = Tiles {
            src: pad.as_ptr(),
            pd,
            w: w.as_ptr(),
            init: _mm512_set1_ps(bias),
            lo: _mm512_set1_ps(lo),
            hi: _mm512_set1_ps(hi),
            dst: dst.as_mut_ptr(),
            ow,
        };
        let mut y = 0;
        while y < oh {
            let r = match oh - y {
                4.. => 4,
                2 | 3 => 2,
                _ => 1,
            };
            match r {
                4 => strip::<K, S, 4>(&t, y),
                2 => strip::<K, S, 2>(&t, y),
                _ => strip::<K, S, 1>(&t, y),
            }
            if let Some(f) = post {
                crate::simd::map_inplace(f, &mut dst[y * ow..(y + r) * ow]);
            }
            y += r;
        }
    }
}

/// The register-tiled plane kernel for this kernel size and stride, if there is one.
#[cfg(target_arch = "x86_64")]
type PlaneFn = unsafe fn(&[f32], Padded, &[f32], f32, Activation, usize, usize, &mut [f32]);

#[cfg(target_arch = "x86_64")]
fn tiled_kernel(cs: &ConvShape, wide: bool) -> Option<PlaneFn> {
    let g = &cs.geo;
    if crate::simd::level() == crate::simd::Level::Scalar
        || g.dilations.iter().any(|&d| d != 1)
        || g.pads_begin.iter().any(|&p| p < 0)
        || g.kernel[0] != g.kernel[1]
        || g.strides[0] != g.strides[1]
    {
        return None;
    }
    if wide && crate::simd::level() == crate::simd::Level::Avx512 && avx512_planes() {
        return Some(match (g.kernel[0], g.strides[0]) {
            (3, 1) => avx512::plane::<3, 1>,
            (3, 2) => avx512::plane::<3, 2>,
            (5, 1) => avx512::plane::<5, 1>,
            (5, 2) => avx512::plane::<5, 2>,
            (7, 1) => avx512::plane::<7, 1>,
            (7, 2) => avx512::plane::<7, 2>,
            _ => return None,
        });
    }
    Some(match (g.kernel[0], g.strides[0]) {
        (3, 1) => avx2::plane::<3, 1>,
        (3, 2) => avx2::plane::<3, 2>,
        (5, 1) => avx2::plane::<5, 1>,
        (5, 2) => avx2::plane::<5, 2>,
        (7, 1) => avx2::plane::<7, 1>,
        (7, 2) => avx2::plane::<7, 2>,
        _ => return None,
    })
}

/// Whether the AVX-512 plane kernel runs where the CPU has it (`ZENRT_DW_AVX512=0` keeps the
/// AVX2 one, for comparisons).
#[cfg(target_arch = "x86_64")]
fn avx512_planes() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("ZENRT_DW_AVX512").map_or(true, |v| v != "0"))
}

/// Whether the AVX-512 kernels of the depthwise, fused expand+depthwise and few-channel
/// convolutions run where the CPU has them (`ZENRT_DW_AVX512=0` keeps the AVX2 ones, for
/// comparisons).
pub(super) fn avx512_enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    return avx512_planes();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// One output plane through the reference tap loop: `dst = act(bias + Σ taps)`.
fn plane_ref(src: &[f32], cs: &ConvShape, wk: &[f32], bias: f32, act: Activation, dst: &mut [f32]) {
    dst.fill(bias);
    depthwise_plane(src, cs.in_sp[0], cs.in_sp[1], wk, &cs.geo, dst);
    if let Some(f) = act.simd_f32() {
        crate::simd::map_inplace(f, dst);
    }
}

/// `ZENRT_DEPTHWISE=ref` forces the reference tap loop (for comparisons).
fn tiled_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("ZENRT_DEPTHWISE").map_or(true, |v| v != "ref"))
}

/// Output widths up to which the channel-blocked kernel runs rather than the plane kernel
/// (measured: `depthwise_timing`, docs/kernels.md); `ZENRT_DW_BLOCKED_MAX_OW=<n>` overrides it
/// for every stride.
const BLOCKED_MAX_OW: usize = 16;
/// The same for strides ≥ 2 (session 9, AVX-512: 144@56 5×5 stride 2 → 28 wide, blocked 0.139 ms
/// vs plane 0.176; at 56 wide the plane kernel still wins).
const BLOCKED_MAX_OW_STRIDED: usize = 28;

fn blocked_max_ow(stride: usize) -> usize {
    static W: crate::tuning::EnvNum = crate::tuning::EnvNum::new("ZENRT_DW_BLOCKED_MAX_OW");
    W.get().unwrap_or(if stride >= 2 { BLOCKED_MAX_OW_STRIDED } else { BLOCKED_MAX_OW })
}

/// Which depthwise kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DwPath {
    /// The reference tap loop.
    Reference,
    /// The register-tiled plane kernel where it applies, else the reference loop (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Planes,
    /// The channel-blocked kernel where it applies, else as `Planes` (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Blocked,
    /// `Planes` with the AVX2 kernel on AVX-512 machines too (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    PlanesAvx2,
    /// `Blocked` with the AVX2 kernel on AVX-512 machines too (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    BlockedAvx2,
    /// Channel-blocked for narrow outputs or geometries the plane kernel does not take, plane
    /// kernel otherwise (the default).
    Auto,
}

/// All planes of the depthwise convolution into `y` (`[N, M, OH, OW]`).
pub fn depthwise_f32(x: &[f32], w: &[f32], b: Option<&[f32]>, cs: &ConvShape, act: Activation, y: &mut [f32]) {
    let path = if tiled_enabled() { DwPath::Auto } else { DwPath::Reference };
    depthwise_with(path, x, w, b, cs, act, y)
}

/// [`depthwise_f32`] through the kernel `path` picks.
pub(super) fn depthwise_with(
    path: DwPath,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) {
    let wide = !matches!(path, DwPath::PlanesAvx2 | DwPath::BlockedAvx2);
    #[cfg(target_arch = "x86_64")]
    let plane_kernel = tiled_kernel(cs, wide).is_some();
    #[cfg(not(target_arch = "x86_64"))]
    let plane_kernel = false;
    let blocked = match path {
        DwPath::Reference | DwPath::Planes | DwPath::PlanesAvx2 => false,
        DwPath::Blocked | DwPath::BlockedAvx2 => true,
        DwPath::Auto => !plane_kernel || cs.geo.out.get(1).is_some_and(|&ow| ow <= blocked_max_ow(cs.geo.strides[1])),
    };
    if blocked && blocked::applies(cs) {
        return blocked::depthwise_blocked(x, w, b, cs, act, y, wide);
    }
    let tiled = path != DwPath::Reference;
    let in_size: usize = cs.in_sp.iter().product();
    let out_size: usize = cs.geo.out.iter().product();
    let planes = cs.n * cs.m;
    let ksize = cs.geo.kernel_size();
    let mg = cs.m / cs.group;
    #[cfg(target_arch = "x86_64")]
    let fast = tiled.then(|| tiled_kernel(cs, wide)).flatten();
    #[cfg(not(target_arch = "x86_64"))]
    let fast: Option<()> = tiled.then_some(None).flatten();
    let g = &cs.geo;
    let pd = Padded::new([g.kernel[0], g.kernel[1]], [g.strides[0], g.strides[1]], [g.out[0], g.out[1]]);
    let scratch_len = if fast.is_some() { pd.len() } else { 1 };
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
            if let Some(kernel) = fast {
                pad_plane(src, [cs.in_sp[0], cs.in_sp[1]], [g.pads_begin[0], g.pads_begin[1]], pd, pad);
                // SAFETY: `tiled_kernel` checked AVX2+FMA (run-time detection) and picked the
                // kernel made for this kernel size and stride; `pd` is the layout for this shape.
                unsafe { kernel(pad, pd, wk, bias, act, g.out[0], g.out[1], dst) };
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

/// The register-tiled plane kernel as a band-level entry point for fused operators
/// (`conv_kernels::expand_dw`): checked once for this CPU and geometry, then run on any
/// [`Padded`] band of rows.
#[derive(Clone, Copy)]
pub struct PlaneKernel {
    #[cfg(target_arch = "x86_64")]
    f: PlaneFn,
    kernel: usize,
    stride: usize,
}

impl PlaneKernel {
    /// The tiled kernel for the 2-D depthwise geometry of `cs`, or `None` where only the
    /// reference loop applies (other kernels/strides, dilations, no AVX2, `ZENRT_DEPTHWISE=ref`).
    pub fn for_shape(cs: &ConvShape) -> Option<PlaneKernel> {
        if cs.in_sp.len() != 2 || !tiled_enabled() {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        return tiled_kernel(cs, true).map(|f| PlaneKernel { f, kernel: cs.geo.kernel[0], stride: cs.geo.strides[0] });
        #[cfg(not(target_arch = "x86_64"))]
        None
    }

    /// `dst = act(bias + Σ taps)` for `oh × ow` outputs read from `pad` (laid out by `pd`).
    /// Panics (no UB) when `pd` was made for another kernel/stride or a buffer is too short.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        pad: &[f32],
        pd: Padded,
        w: &[f32],
        bias: f32,
        act: Activation,
        oh: usize,
        ow: usize,
        dst: &mut [f32],
    ) {
        let k = self.kernel;
        assert!(pd.sw == self.stride && pd.rows >= oh.saturating_sub(1) * self.stride + k);
        assert!(pd.phase_len >= ow.next_multiple_of(8) + (k - 1) / self.stride);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `for_shape` checked AVX2+FMA and picked the kernel for this size and stride;
        // `plane` asserts the buffer lengths, the asserts above the layout.
        unsafe {
            (self.f)(pad, pd, w, bias, act, oh, ow, dst)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (pad, w, bias, act, dst);
    }
}
