//! Direct group-1 2-D convolution for few input channels (a network's RGB stem: 3→32 3×3, the
//! 7×7 stride-2 ResNet stem, keras_cnn's 3→32 3×3), where im2col + GEMM has K = C·kh·kw of only
//! 27..147 and spends its time packing.
//!
//! The input planes of an image are copied once into the zero-padded, stride-phase-split layout
//! of [`Padded`], so tap `(c, a, b)` of output columns `ox..ox+8` of output row `y` is one
//! contiguous 8-float load at a fixed offset from `y·sh` rows into the copy. Output is computed
//! in register tiles of up to 6 output channels × 16 columns of one output row (12 accumulators):
//! every tap loads 2 input vectors and broadcasts 6 weights (packed tap-major per block of output
//! channels) into 12 FMAs, so there is no packing of the input and no pass per tap or per input
//! channel. Bias is the initial value; Relu/Clip are applied in registers, other activations per
//! output row while it is in L1. Output channels are cut into balanced blocks of at most 6;
//! `(image, output channel)` planes split over threads when the work pays.
//! AVX2+FMA only; dilations other than 1 and negative pads take the GEMM path.

use super::padded::{pad_plane, Padded};
use super::{split_zip, ConvShape};
use crate::ops::fused::Activation;

/// Most input channels of a group-1 convolution that [`few_channels_f32`] takes.
pub const FEW_CHANNELS: usize = 4;

/// Most output channels of one register tile.
const BLOCK: usize = 6;

/// Multiply-adds below which the convolution stays on the calling thread.
const PAR_WORK: usize = 1 << 20;

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use super::Activation;
    use std::arch::x86_64::*;

    /// One output row of one block of output channels: where its taps read and it writes.
    pub struct Row<'a> {
        /// The padded planes at the first padded row this output row reads.
        pub src: *const f32,
        /// Offset of every tap `(c, a, b)` (weight order) from `src`.
        pub offs: &'a [usize],
        /// The block's weights, tap-major: `w[k·B + o]`.
        pub w: *const f32,
        pub bias: *const f32,
        /// The block's first output plane at this row; planes are `plane` apart.
        pub dst: *mut f32,
        pub plane: usize,
        pub ow: usize,
        /// Add to the values in `dst` (a later block of taps) instead of starting at the bias.
        pub acc: bool,
        /// A residual laid out like `dst` (same plane stride), added before the activation; null
        /// for none.
        pub res: *const f32,
    }

    /// `B` output channels × `V` vectors from column `ox` (the last may be partial: masked
    /// load and store). Safety: every tap offset plus `ox..ow.min(ox + 8·V)` stays inside the
    /// source, so do the tile's outputs in `dst` and (when not null) `res`, `ox + 8·(V-1) < ow`,
    /// the pointers hold what [`Row`] says.
    #[inline(always)]
    unsafe fn tile<const B: usize, const V: usize>(r: &Row, lo: __m256, hi: __m256, ox: usize) {
        let src = r.src.add(ox);
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        // A partial last vector is loaded masked: a pointwise source has no padding past its end.
        let n = r.ow - ox;
        let masks: [__m256i; V] =
            std::array::from_fn(|v| _mm256_cmpgt_epi32(_mm256_set1_epi32((n - 8 * v) as i32), lanes));
        let full = n >= 8 * V;
        let mut acc = [[_mm256_setzero_ps(); V]; B];
        for (o, acc_o) in acc.iter_mut().enumerate() {
            if r.acc {
                let d = r.dst.add(o * r.plane + ox);
                for (v, a) in acc_o.iter_mut().enumerate() {
                    *a = if full { _mm256_loadu_ps(d.add(8 * v)) } else { _mm256_maskload_ps(d.add(8 * v), masks[v]) };
                }
            } else {
                *acc_o = [_mm256_set1_ps(*r.bias.add(o)); V];
            }
        }
        for (k, &off) in r.offs.iter().enumerate() {
            let p = src.add(off);
            let mut x = [_mm256_setzero_ps(); V];
            for (v, xv) in x.iter_mut().enumerate() {
                *xv = if full { _mm256_loadu_ps(p.add(8 * v)) } else { _mm256_maskload_ps(p.add(8 * v), masks[v]) };
            }
            let wk = r.w.add(k * B);
            for (o, acc_o) in acc.iter_mut().enumerate() {
                let w = _mm256_broadcast_ss(&*wk.add(o));
                for v in 0..V {
                    acc_o[v] = _mm256_fmadd_ps(w, x[v], acc_o[v]);
                }
            }
        }
        for (o, acc_o) in acc.iter().enumerate() {
            for (v, a) in acc_o.iter().enumerate() {
                let col = ox + 8 * v;
                let a = if r.res.is_null() {
                    *a
                } else {
                    let z = r.res.add(o * r.plane + col);
                    _mm256_add_ps(*a, if full { _mm256_loadu_ps(z) } else { _mm256_maskload_ps(z, masks[v]) })
                };
                // max(lo, a) / min(hi, a) return `a` when it is NaN (x86 takes the 2nd operand).
                let val = _mm256_min_ps(hi, _mm256_max_ps(lo, a));
                let out = r.dst.add(o * r.plane + col);
                if full || v + 1 < V {
                    _mm256_storeu_ps(out, val);
                } else {
                    _mm256_maskstore_ps(out, masks[v], val);
                }
            }
        }
    }

    /// One output row of `B` channels, 16 columns at a time.
    /// Safety: as [`tile`] for every tile of the row; AVX2 and FMA are available.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn row<const B: usize>(r: &Row, lo: f32, hi: f32) {
        let (lo, hi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
        let mut ox = 0;
        while ox + 8 < r.ow {
            tile::<B, 2>(r, lo, hi, ox);
            ox += 16;
        }
        if ox < r.ow {
            tile::<B, 1>(r, lo, hi, ox);
        }
    }

    /// [`row`] for a block of `b` (1..=6) output channels.
    /// Safety: as [`row`].
    pub unsafe fn row_dyn(b: usize, r: &Row, act: Activation) {
        let (lo, hi, _) = act.clamp_or_post();
        match b {
            1 => row::<1>(r, lo, hi),
            2 => row::<2>(r, lo, hi),
            3 => row::<3>(r, lo, hi),
            4 => row::<4>(r, lo, hi),
            5 => row::<5>(r, lo, hi),
            _ => row::<6>(r, lo, hi),
        }
    }
}

/// The AVX-512 tile of the few-channel convolution: up to 6 output channels × 32 columns
/// (12 accumulators of 16 lanes); the last vector of a row is loaded and stored under a mask
/// (the [`Padded`] rows are padded to 8 columns, not 16). Starts at the bias (no `acc`, no
/// residual: the pointwise kernel keeps the AVX2 tile).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::avx2::Row;
    use super::Activation;
    use std::arch::x86_64::*;

    /// `B` output channels × `V` vectors of 16 from column `ox`; the last holds
    /// `min(16, ow - ox - 16·(V-1))` columns. Safety: as `avx2::tile` with 16-column vectors.
    /// `FULL`: the last vector holds 16 columns (plain loads and stores: masked ones cost more on
    /// Zen 5, session 10).
    #[inline(always)]
    unsafe fn tile<const B: usize, const V: usize, const FULL: bool>(r: &Row, lo: __m512, hi: __m512, ox: usize) {
        let src = r.src.add(ox);
        let last = (r.ow - ox - 16 * (V - 1)).min(16);
        let m: __mmask16 = ((1u32 << last) - 1) as __mmask16;
        let mut acc = [[_mm512_setzero_ps(); V]; B];
        for (o, acc_o) in acc.iter_mut().enumerate() {
            *acc_o = [_mm512_set1_ps(*r.bias.add(o)); V];
        }
        for (k, &off) in r.offs.iter().enumerate() {
            let p = src.add(off);
            let mut x = [_mm512_setzero_ps(); V];
            for (v, xv) in x.iter_mut().enumerate() {
                *xv = if v + 1 == V && !FULL {
                    _mm512_maskz_loadu_ps(m, p.add(16 * v))
                } else {
                    _mm512_loadu_ps(p.add(16 * v))
                };
            }
            let wk = r.w.add(k * B);
            for (o, acc_o) in acc.iter_mut().enumerate() {
                let w = _mm512_set1_ps(*wk.add(o));
                for v in 0..V {
                    acc_o[v] = _mm512_fmadd_ps(w, x[v], acc_o[v]);
                }
            }
        }
        for (o, acc_o) in acc.iter().enumerate() {
            for (v, a) in acc_o.iter().enumerate() {
                // max(lo, a) / min(hi, a) return `a` when it is NaN (x86 takes the 2nd operand).
                let val = _mm512_min_ps(hi, _mm512_max_ps(lo, *a));
                let out = r.dst.add(o * r.plane + ox + 16 * v);
                if v + 1 == V && !FULL {
                    _mm512_mask_storeu_ps(out, m, val);
                } else {
                    _mm512_storeu_ps(out, val);
                }
            }
        }
    }

    /// One output row of `B` channels, 32 columns at a time.
    /// Safety: as [`tile`] for every tile of the row; AVX-512F is available.
    #[target_feature(enable = "avx512f")]
    unsafe fn row<const B: usize>(r: &Row, lo: f32, hi: f32) {
        assert!(!r.acc && r.res.is_null());
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        let mut ox = 0;
        while ox + 32 <= r.ow {
            tile::<B, 2, true>(r, lo, hi, ox);
            ox += 32;
        }
        if ox + 16 < r.ow {
            tile::<B, 2, false>(r, lo, hi, ox);
        } else if ox + 16 == r.ow {
            tile::<B, 1, true>(r, lo, hi, ox);
        } else if ox < r.ow {
            tile::<B, 1, false>(r, lo, hi, ox);
        }
    }

    /// [`row`] for a block of `b` (1..=6) output channels.
    /// Safety: as [`row`].
    pub unsafe fn row_dyn(b: usize, r: &Row, act: Activation) {
        let (lo, hi, _) = act.clamp_or_post();
        match b {
            1 => row::<1>(r, lo, hi),
            2 => row::<2>(r, lo, hi),
            3 => row::<3>(r, lo, hi),
            4 => row::<4>(r, lo, hi),
            5 => row::<5>(r, lo, hi),
            _ => row::<6>(r, lo, hi),
        }
    }
}

/// Whether [`few_channels_f32`] takes this convolution.
pub fn applies(cs: &ConvShape) -> bool {
    let g = &cs.geo;
    cfg!(target_arch = "x86_64")
        && crate::simd::level() != crate::simd::Level::Scalar
        && std::env::var("ZENRT_DEPTHWISE").map_or(true, |v| v != "ref")
        && cs.group == 1
        && (1..=FEW_CHANNELS).contains(&cs.c)
        && cs.in_sp.len() == 2
        && g.dilations.iter().all(|&d| d == 1)
        && g.pads_begin.iter().all(|&p| p >= 0)
        && g.strides.iter().all(|&s| s >= 1)
}

/// Block sizes (each at most [`BLOCK`], as even as possible) covering `n` output channels.
pub(super) fn blocks(n: usize) -> impl Iterator<Item = usize> {
    let k = n.div_ceil(BLOCK);
    (0..k).map(move |i| n / k + usize::from(i < n % k))
}

/// `act(conv(x, w) + b)` into `y` (`[N, M, OH, OW]`) when [`applies`]; returns false (nothing
/// written) otherwise.
pub fn few_channels_f32(
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) -> bool {
    few_channels_with(true, x, w, b, cs, act, y)
}

/// [`few_channels_f32`] with the AVX-512 tile where `wide` and the CPU has it (and
/// `ZENRT_DW_AVX512` is not 0), else the AVX2 one.
pub(super) fn few_channels_with(
    wide: bool,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) -> bool {
    if !applies(cs) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let wide = wide && crate::simd::level() == crate::simd::Level::Avx512 && super::depthwise::avx512_enabled();
        let g = &cs.geo;
        let (c, m) = (cs.c, cs.m);
        let (kh, kw) = (g.kernel[0], g.kernel[1]);
        let pd = Padded::new([kh, kw], [g.strides[0], g.strides[1]], [g.out[0], g.out[1]]);
        let (in_size, out_size, taps) = (cs.in_sp[0] * cs.in_sp[1], g.out[0] * g.out[1], c * kh * kw);
        let offs: Vec<usize> =
            (0..taps).map(|k| (k / (kh * kw)) * pd.len() + (k / kw % kh) * pd.row_len + pd.col_off(k % kw)).collect();
        let zeros = vec![0f32; if b.is_some() { 0 } else { m }];
        let bias = b.unwrap_or(&zeros);
        let (_, _, post) = act.clamp_or_post();
        let planes = cs.n * m;
        let work = planes * out_size * taps;
        let parts = if work >= PAR_WORK { crate::threads::current().min(planes).max(1) } else { 1 };
        let per = planes.div_ceil(parts);
        let mut pads = crate::memory::alloc_for_overwrite::<f32>(parts * c * pd.len());
        // Planes `first..` (`ys`) of the output, in runs of output channels of one image.
        let run = |first: usize, ys: &mut [f32], pad: &mut [f32]| {
            let mut p = first;
            for seg in split_runs(ys, first, m, out_size) {
                let (n, o_first) = (p / m, p % m);
                let count = seg.len() / out_size;
                p += count;
                for (ci, pc) in pad.chunks_exact_mut(pd.len()).enumerate() {
                    let src = &x[(n * c + ci) * in_size..][..in_size];
                    pad_plane(src, [cs.in_sp[0], cs.in_sp[1]], [g.pads_begin[0], g.pads_begin[1]], pd, pc);
                }
                let wp = pack_blocks(&w[o_first * taps..(o_first + count) * taps], taps);
                let mut o = 0;
                for bs in blocks(count) {
                    let oc = o_first + o;
                    for yy in 0..g.out[0] {
                        let r = avx2::Row {
                            src: pad[yy * g.strides[0] * pd.row_len..].as_ptr(),
                            offs: &offs,
                            w: wp[o * taps..(o + bs) * taps].as_ptr(),
                            bias: bias[oc..oc + bs].as_ptr(),
                            dst: seg[o * out_size + yy * g.out[1]..].as_mut_ptr(),
                            plane: out_size,
                            ow: g.out[1],
                            acc: false,
                            res: std::ptr::null(),
                        };
                        // SAFETY: `applies` checked AVX2+FMA; the taps of output row `yy` read
                        // padded rows `yy·sh .. yy·sh + kh` of each channel's copy, and every
                        // phase row holds `ow` rounded up to 8 plus `(kw-1)/sw` columns
                        // (`Padded`); `wp`/`bias` hold the block's `bs·taps`/`bs` values and
                        // `seg` its `bs` planes from plane `o`.
                        // With `wide`, `simd::level()` found AVX-512F; the masked last vector
                        // reads no further than the AVX2 tile.
                        unsafe {
                            if wide {
                                avx512::row_dyn(bs, &r, act)
                            } else {
                                avx2::row_dyn(bs, &r, act)
                            }
                        };
                        if let Some(f) = post {
                            for oi in o..o + bs {
                                let off = oi * out_size + yy * g.out[1];
                                crate::simd::map_inplace(f, &mut seg[off..off + g.out[1]]);
                            }
                        }
                    }
                    o += bs;
                }
            }
        };
        let y = &mut y[..planes * out_size];
        split_zip(parts > 1, y, per * out_size, &mut pads, c * pd.len(), |t, ys, pad| run(t * per, ys, pad));
        crate::memory::recycle(pads);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (wide, x, w, b, act, y);
        false
    }
}

/// The weights `w` (`[count, taps]`) tap-major per block of [`blocks`]: the block of `B` output
/// channels from channel `o0` holds weight `(o0 + o, k)` at `o0·taps + k·B + o`.
pub(super) fn pack_blocks(w: &[f32], taps: usize) -> Vec<f32> {
    let mut wp = vec![0f32; w.len()];
    let mut o0 = 0;
    for bs in blocks(w.len() / taps.max(1)) {
        for (o, wo) in w[o0 * taps..(o0 + bs) * taps].chunks_exact(taps).enumerate() {
            for (k, &v) in wo.iter().enumerate() {
                wp[o0 * taps + k * bs + o] = v;
            }
        }
        o0 += bs;
    }
    wp
}

/// `ys` (output planes from plane `first`, `plane` floats each) cut where an image of `m`
/// planes ends.
fn split_runs(ys: &mut [f32], first: usize, m: usize, plane: usize) -> impl Iterator<Item = &mut [f32]> {
    let mut rest = ys;
    let mut p = first;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let count = (m - p % m).min(rest.len() / plane);
        p += count;
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(count * plane);
        rest = tail;
        Some(head)
    })
}
