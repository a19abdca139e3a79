//! Direct AVX-512 convolution for group-1 3×3 stride-2 2-D convolutions (ResNet-50's
//! layer2.0/3.0/4.0 conv2; session 10), replacing the implicit im2col + GEMM, whose packing
//! copied every input value 9 times per panel (`Im2col2d`, 7% of resnet50's time at batch 8).
//!
//! The input is copied once into four stride phases per channel: phase `(ry, rx)` row `i`,
//! column `j` holds padded input `(2i + ry, 2j + rx)`, every phase row `P = OW + 1` long. Output
//! pixel `(oy, ox)` then reads tap `(a, b)` at phase `(a & 1, b & 1)`, position
//! `(oy + a/2)·P + ox + b/2`: with output pixels numbered `q = oy·P + ox` ("pitched": one
//! unused column per row) every tap of 16 consecutive `q` is one contiguous load at a fixed
//! offset. The register tile is [`B`] output channels (broadcast weights) × up to 3 vectors of
//! 16 pitched pixels (24 accumulators): per tap 3 loads, 8 broadcasts, 24 FMAs.
//!
//! Work is cut into chunks of output rows (several whole images when they are small, so that
//! a chunk holds about [`TARGET_Q`] pixels): per chunk and block of [`CB`] input channels the
//! phases of those channels are copied (L2-sized), then every block of output channels runs
//! over the chunk's pixels, accumulating in a pitched scratch output; the last channel block
//! adds nothing new but applies Relu/Clip in registers, and the chunk's rows are then copied
//! into the NCHW output (other activations there). Bias is the accumulators' start. Chunks
//! split over threads. Weights are packed once at plan time ([`pack`]).
//! `ZENRT_CONV_S2=off` sends these convolutions back to the GEMM.

use super::padded::split_even_odd;
use super::ConvShape;
use crate::ops::fused::Activation;
use std::sync::OnceLock;

/// Output channels per register tile.
pub const B: usize = 8;

/// Input channels per pass over a chunk.
const CB: usize = 64;

/// Pixels (pitched) a chunk aims at.
const TARGET_Q: usize = 256;

/// Floats past the end of each phase plane that whole-vector loads of the last tile may read.
const SLACK: usize = 64;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| !matches!(std::env::var("ZENRT_CONV_S2").as_deref(), Ok("off" | "0")))
}

/// Whether the direct kernel takes `cs`: group 1, 2-D, 3×3, stride 2, dilation 1, begin pads of
/// 0..=2, more than 4 input channels (fewer are the few-channel kernel's), AVX-512.
pub fn chosen(cs: &ConvShape) -> bool {
    let g = &cs.geo;
    cfg!(target_arch = "x86_64")
        && crate::simd::level() == crate::simd::Level::Avx512
        && enabled()
        && cs.group == 1
        && cs.in_sp.len() == 2
        && cs.c > super::few_channels::FEW_CHANNELS
        && g.kernel[..] == [3, 3]
        && g.strides[..] == [2, 2]
        && g.dilations[..] == [1, 1]
        && g.pads_begin.iter().all(|&p| (0..=2).contains(&p))
        && g.out.iter().all(|&o| o > 0)
}

/// The weights `[M, C, 3, 3]` as the kernel reads them: per block of [`B`] output channels
/// (the last padded with zeros), per input channel and tap, the block's `B` weights.
pub fn pack(w: &[f32], m: usize, c: usize) -> Vec<f32> {
    let mb = m.div_ceil(B);
    let mut wp = vec![0f32; mb * c * 9 * B];
    for (o, wo) in w.chunks_exact(c * 9).take(m).enumerate() {
        let (blk, oi) = (o / B, o % B);
        for (k, &v) in wo.iter().enumerate() {
            wp[(blk * c * 9 + k) * B + oi] = v;
        }
    }
    wp
}

/// Output rows `r0..r0 + rows` of image `img`, whose phases start at phase row `base` of the chunk.
#[derive(Clone, Copy, Debug)]
struct Seg {
    img: usize,
    r0: usize,
    rows: usize,
    base: usize,
}

/// The chunks of output rows for `n` images of `oh` rows (pitch `p`), at least `min_chunks` of
/// them where the rows allow.
fn plan_chunks(n: usize, oh: usize, p: usize, min_chunks: usize) -> Vec<Vec<Seg>> {
    let mut target = TARGET_Q;
    loop {
        let rps = (target / p).clamp(1, oh);
        let nseg = oh.div_ceil(rps);
        let rps = oh.div_ceil(nseg);
        let mut chunks: Vec<Vec<Seg>> = vec![];
        let mut cur: Vec<Seg> = vec![];
        let mut prow = 0;
        for img in 0..n {
            let mut r0 = 0;
            while r0 < oh {
                let rows = rps.min(oh - r0);
                if !cur.is_empty() && (prow + rows + 1) * p > target {
                    chunks.push(std::mem::take(&mut cur));
                    prow = 0;
                }
                cur.push(Seg { img, r0, rows, base: prow });
                prow += rows + 1;
                r0 += rows;
            }
        }
        if !cur.is_empty() {
            chunks.push(cur);
        }
        if chunks.len() >= min_chunks || target <= p {
            return chunks;
        }
        target /= 2;
    }
}

/// `act(conv(x, w) + b)` into `y` (`[N, M, OH, OW]`) for a convolution [`chosen`] takes; `wp`
/// from [`pack`].
pub fn conv_f32(x: &[f32], wp: &[f32], b: Option<&[f32]>, cs: &ConvShape, act: Activation, y: &mut [f32]) {
    let g = &cs.geo;
    let (n, c, m) = (cs.n, cs.c, cs.m);
    let (h, w) = (cs.in_sp[0], cs.in_sp[1]);
    let (oh, ow) = (g.out[0], g.out[1]);
    let p = ow + 1;
    let mb = m.div_ceil(B);
    assert!(x.len() >= n * c * h * w && y.len() >= n * m * oh * ow && wp.len() == mb * c * 9 * B);
    let mut bias = vec![0f32; mb * B];
    if let Some(b) = b {
        bias[..m].copy_from_slice(&b[..m]);
    }
    let threads = crate::threads::current();
    let work = n * m * oh * ow * c * 9;
    let min_chunks = if threads > 1 && work >= 1 << 20 { 2 * threads } else { 1 };
    let chunks = plan_chunks(n, oh, p, min_chunks);
    let out = SendPtr(y.as_mut_ptr());
    let (ph, pw) = (g.pads_begin[0], g.pads_begin[1]);
    crate::threads::for_each_task(chunks.len(), |ci| {
        let segs = &chunks[ci];
        let prow: usize = segs.iter().map(|s| s.rows + 1).sum();
        let q = (prow - 1) * p;
        let qt = q.next_multiple_of(16);
        let lpl = prow * p + SLACK;
        let cb = CB.min(c);
        let mut phases = crate::memory::alloc_for_overwrite::<f32>(cb * 4 * lpl);
        let mut t = crate::memory::alloc_for_overwrite::<f32>(mb * B * qt);
        let offs: [usize; 9] = std::array::from_fn(|k| {
            let (a, bb) = (k / 3, k % 3);
            ((a & 1) * 2 + (bb & 1)) * lpl + (a >> 1) * p + (bb >> 1)
        });
        let (lo, hi, _) = act.clamp_or_post();
        let mut c0 = 0;
        while c0 < c {
            let nc = cb.min(c - c0);
            // The phases of channels `c0..c0 + nc` of every segment.
            for (k, ch) in phases.chunks_exact_mut(4 * lpl).take(nc).enumerate() {
                for s in segs {
                    let plane = &x[(s.img * c + c0 + k) * h * w..][..h * w];
                    for i in 0..=s.rows {
                        for ry in 0..2 {
                            let iy = (2 * (s.r0 + i) + ry) as i64 - ph;
                            let at = (s.base + i) * p;
                            let (e, o) = ch[ry * 2 * lpl..][..2 * lpl].split_at_mut(lpl);
                            let (e, o) = (&mut e[at..at + p], &mut o[at..at + p]);
                            if iy < 0 || iy >= h as i64 {
                                e.fill(0.0);
                                o.fill(0.0);
                            } else {
                                split_even_odd(&plane[iy as usize * w..][..w], pw, e, o);
                            }
                        }
                    }
                }
                for pl in ch.chunks_exact_mut(lpl) {
                    pl[prow * p..].fill(0.0);
                }
            }
            let (first, last) = (c0 == 0, c0 + nc == c);
            for blk in 0..mb {
                let k = Kern {
                    x: phases.as_ptr(),
                    cstr: 4 * lpl,
                    nc,
                    offs,
                    w: wp[(blk * c + c0) * 9 * B..].as_ptr(),
                    bias: bias[blk * B..].as_ptr(),
                    t: t[blk * B * qt..].as_mut_ptr(),
                    tstr: qt,
                    first,
                    last,
                };
                // SAFETY: `chosen` found AVX-512F. Tiles cover pitched pixels `0..qt` (`qt < q +
                // 16`); their taps read at most `qt + p + 1 <= prow·p + SLACK` floats into each
                // of the `nc` channels' phase planes (`lpl` long, 4 a channel), the block's
                // `nc·9·B` weights from channel `c0` and `B` biases; `t` holds `B` rows of `qt`
                // for the block.
                unsafe { block(&k, qt, lo, hi) };
            }
            c0 += nc;
        }
        // The chunk's rows into the output (`chunks` cover disjoint rows of `y`).
        let post = act.clamp_or_post().2;
        for s in segs {
            for o in 0..m {
                for r in 0..s.rows {
                    let src = &t[o * qt + (s.base + r) * p..][..ow];
                    let at = ((s.img * m + o) * oh + s.r0 + r) * ow;
                    // SAFETY: `at + ow <= y.len()` (asserted shapes); no other chunk writes row
                    // `s.r0 + r` of image `s.img`.
                    let dst = unsafe { std::slice::from_raw_parts_mut(out.get().add(at), ow) };
                    dst.copy_from_slice(src);
                    if let Some(f) = post {
                        crate::simd::map_inplace(f, dst);
                    }
                }
            }
        }
        crate::memory::recycle(phases);
        crate::memory::recycle(t);
    });
}

/// The output pointer shared by the chunk tasks (each writes its own rows).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: tasks write disjoint rows through it.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// One block of output channels over a chunk's pixels for one block of input channels.
struct Kern {
    /// Phase planes of the block's first input channel (4 of `lpl` floats, `cstr` apart).
    x: *const f32,
    cstr: usize,
    nc: usize,
    /// Offset of tap `(a, b)` (index `3a + b`) from a pixel's position.
    offs: [usize; 9],
    /// `[nc][9][B]` weights.
    w: *const f32,
    bias: *const f32,
    /// Scratch output of the block: `B` rows of `tstr` pitched pixels.
    t: *mut f32,
    tstr: usize,
    /// Start at the bias (else at `t`); apply the clamp (the last input-channel block).
    first: bool,
    last: bool,
}

/// Tiles of 48 pixels over `0..qt` (`qt` a multiple of 16), then one of 16 or 32.
/// Safety: as at the call in [`conv_f32`]; AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block(k: &Kern, qt: usize, lo: f32, hi: f32) {
    use std::arch::x86_64::*;
    let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
    let mut q = 0;
    while q + 48 <= qt {
        tile::<3>(k, q, lo, hi);
        q += 48;
    }
    match qt - q {
        32 => tile::<2>(k, q, lo, hi),
        16 => tile::<1>(k, q, lo, hi),
        _ => {}
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn block(_: &Kern, _: usize, _: f32, _: f32) {
    unreachable!("direct_s2 is chosen on x86_64 only")
}

/// `B` output channels × `V` vectors of 16 pitched pixels from `q`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile<const V: usize>(k: &Kern, q: usize, lo: std::arch::x86_64::__m512, hi: std::arch::x86_64::__m512) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); V]; B];
    for (o, acc_o) in acc.iter_mut().enumerate() {
        for (v, a) in acc_o.iter_mut().enumerate() {
            *a = if k.first {
                _mm512_set1_ps(*k.bias.add(o))
            } else {
                _mm512_loadu_ps(k.t.add(o * k.tstr + q + 16 * v))
            };
        }
    }
    let offs = k.offs;
    let mut xp = k.x.add(q);
    let mut wp = k.w;
    for _ in 0..k.nc {
        for (tap, &off) in offs.iter().enumerate() {
            let p = xp.add(off);
            let xv: [__m512; V] = std::array::from_fn(|v| _mm512_loadu_ps(p.add(16 * v)));
            let wt = wp.add(tap * B);
            for (o, acc_o) in acc.iter_mut().enumerate() {
                let wb = _mm512_set1_ps(*wt.add(o));
                for v in 0..V {
                    acc_o[v] = _mm512_fmadd_ps(wb, xv[v], acc_o[v]);
                }
            }
        }
        xp = xp.add(k.cstr);
        wp = wp.add(9 * B);
    }
    for (o, acc_o) in acc.iter().enumerate() {
        for (v, &a) in acc_o.iter().enumerate() {
            // max(lo, a) / min(hi, a) return `a` when it is NaN (x86 takes the 2nd operand).
            let val = if k.last { _mm512_min_ps(hi, _mm512_max_ps(lo, a)) } else { a };
            _mm512_storeu_ps(k.t.add(o * k.tstr + q + 16 * v), val);
        }
    }
}
