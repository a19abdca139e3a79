//! Direct pointwise (1×1, stride 1, no padding, group 1) convolution: `Y[M, P] = W[M, C] · X[C, P]`
//! per image, read straight from the NCHW input — no packing of the input per call, which the
//! GEMM path spends 11–17% of MobileNetV2's time on (its B panels are gathered from `C` rows
//! `P` floats apart, and at batch 8 those rows are not in cache).
//!
//! The register tile is the few-channel kernel's ([`super::few_channels`]): up to 6 output
//! channels × 16 pixels, per input channel 2 input loads and 6 weight broadcasts into 12 FMAs,
//! the input channels being the "taps" at offsets `c·P`. Weights are packed once (plan time)
//! channel-major per block of ≤ 6 output channels. Pixels go in chunks, input channels in
//! blocks of at most [`KC`] (each block after the first adds to the outputs), so that a block's
//! `kc × chunk` input slice stays in L1 while the blocks of output channels sweep it, and output
//! channels in groups whose weights stay in L2 while the chunks sweep them; bias is
//! the initial value, Relu/Clip are applied in registers on the last block of input channels,
//! other activations per chunk after it while the chunk is in L1. Chunks of
//! all images form one task list, split over the pool's threads in one dispatch when the conv has
//! at least [`PAR_WORK`] multiply-adds (and the output-channel blocks too when there are fewer
//! than two chunks per thread). AVX2+FMA; `ZENRT_POINTWISE=gemm` keeps the GEMM path.

use super::few_channels::{blocks, pack_blocks};
use super::ConvShape;
use crate::ops::fused::Activation;

/// Multiply-adds below which the convolution stays on the calling thread.
const PAR_WORK: usize = 1 << 18;

/// Most input channels of one pass over the output (more are split into equal blocks, each
/// adding to the output of the previous ones).
const KC: usize = 256;

/// Bytes of the `kc × chunk` input slice that every block of output channels re-reads (in L1).
const SLICE_BYTES: usize = 24 << 10;

/// Bytes of the weights of one group of output channels, which every chunk of pixels re-reads
/// (in L2).
const GROUP_BYTES: usize = 192 << 10;

/// The output pointer, shared by tasks that write disjoint chunks.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint chunks of the output (see `pointwise_f32`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// `self + i`. Safety: `i` lies inside the output.
    unsafe fn at(&self, i: usize) -> *mut f32 {
        self.0.add(i)
    }
}

/// Whether the direct kernel takes this convolution.
pub fn applies(cs: &ConvShape) -> bool {
    let g = &cs.geo;
    cfg!(target_arch = "x86_64")
        && crate::simd::level() != crate::simd::Level::Scalar
        && enabled()
        && cs.group == 1
        && g.kernel.iter().all(|&k| k == 1)
        && g.strides.iter().all(|&s| s == 1)
        && g.pads_begin.iter().chain(&g.pads_end).all(|&p| p == 0)
}

/// Whether the direct kernel is chosen: it applies, and the image has at least
/// [`MIN_PIXELS`] pixels. Per layer it beats the packed GEMM from 28² up (0.5–0.8× the time), is
/// level at 14² and 4–7% slower at 7² (mobilenet_v2's layers); on resnet50 b1 (1×1 convs with
/// K up to 2048 at 14² and 7²) taking it everywhere was 5% slower. docs/kernels.md.
pub fn chosen(cs: &ConvShape) -> bool {
    applies(cs) && cs.in_sp.iter().product::<usize>() >= MIN_PIXELS
}

/// Smallest image (pixels per channel) the direct kernel is chosen for.
pub const MIN_PIXELS: usize = 28 * 28;

/// `ZENRT_POINTWISE=gemm` runs 1×1 convolutions through the GEMM (for comparisons).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("ZENRT_POINTWISE").map_or(true, |v| v != "gemm"))
}

/// The weights `[M, C]` in the kernel's layout (see [`pack_blocks`]).
pub fn pack(w: &[f32], c: usize) -> Vec<f32> {
    pack_blocks(w, c)
}

/// `act(W·X + b)` into `y` (`[N, M, P]`) when [`applies`]; `wp` from [`pack`]. Returns false
/// (nothing written) otherwise.
pub fn pointwise_f32(x: &[f32], wp: &[f32], b: Option<&[f32]>, cs: &ConvShape, act: Activation, y: &mut [f32]) -> bool {
    if !applies(cs) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let (c, m) = (cs.c, cs.m);
        let p: usize = cs.in_sp.iter().product();
        if x.len() < cs.n * c * p || y.len() < cs.n * m * p || wp.len() < m * c {
            return false;
        }
        let kblocks = c.div_ceil(KC).max(1);
        let kc = c.div_ceil(kblocks);
        let chunk = (SLICE_BYTES / 4 / kc.max(1) / 16 * 16).clamp(16, 512);
        let per_image = p.div_ceil(chunk);
        let chunks = cs.n * per_image;
        let threads = if cs.n * m * c * p >= PAR_WORK { crate::threads::current() } else { 1 };
        // Output-channel blocks `(first channel, size)`; with fewer chunks than two per thread
        // (7×7 and 14×14 planes at batch 1) the blocks are split over the threads too.
        let blk: Vec<(usize, usize)> = blocks(m).scan(0, |o, bs| Some((std::mem::replace(o, *o + bs), bs))).collect();
        let bparts = if chunks < 2 * threads { threads.min(blk.len()) } else { 1 };
        let parts = threads.min(chunks).max(1);
        let offs: Vec<usize> = (0..c).map(|ci| ci * p).collect();
        let (lo, hi, post) = act.clamp_or_post();
        let zeros = vec![0f32; if b.is_some() { 0 } else { m }];
        let bias = b.unwrap_or(&zeros);
        let out = OutPtr(y.as_mut_ptr());
        // Task `t`: chunks `t / bparts` of `parts` of the flattened (image, chunk) list, output
        // channel blocks `t % bparts` of `bparts`.
        // Output channel blocks per group whose weights stay in L2 while the chunks sweep them.
        let per_group = (GROUP_BYTES / 4 / c.max(1) / 6).max(1);
        let run = |t: usize| {
            let (tc, tb) = (t / bparts, t % bparts);
            let mine = &blk[tb * blk.len() / bparts..(tb + 1) * blk.len() / bparts];
            for group in mine.chunks(per_group) {
                for q in tc * chunks / parts..(tc + 1) * chunks / parts {
                    let (n, p0) = (q / per_image, q % per_image * chunk);
                    let len = chunk.min(p - p0);
                    // Input channels in blocks of `kc`, each block over the group's output
                    // channel blocks while the block's slice of this chunk is in L1.
                    for k0 in (0..c).step_by(kc) {
                        let k1 = (k0 + kc).min(c);
                        let last = k1 == c;
                        let clamp = if last { Activation::Clip(lo, hi) } else { Activation::None };
                        for &(o, bs) in group {
                            let dst = (n * m + o) * p + p0;
                            let r = super::few_channels::avx2::Row {
                                src: x[n * c * p + p0..].as_ptr(),
                                offs: &offs[k0..k1],
                                w: wp[o * c + k0 * bs..].as_ptr(),
                                bias: bias[o..o + bs].as_ptr(),
                                // SAFETY: `dst` and the `bs` planes from it, `len` values each,
                                // lie inside `y` (checked above) and belong to this task only.
                                dst: unsafe { out.at(dst) },
                                plane: p,
                                ow: len,
                                acc: k0 > 0,
                            };
                            // SAFETY: `applies` checked AVX2+FMA; input channel `ci` of image `n`
                            // is read at `n·C·P + ci·P + p0 .. + len` (partial vectors masked),
                            // inside `x`; `wp` holds the block's `bs·C` weights from `o·C`
                            // (channel-major, so channels `k0..` start at `o·C + k0·bs`), `bias`
                            // its `bs` values; with `acc` the outputs were written by the
                            // previous block of channels.
                            unsafe { super::few_channels::avx2::row_dyn(bs, &r, clamp) };
                            if let (true, Some(f)) = (last, post) {
                                for oi in 0..bs {
                                    // SAFETY: as for `dst`: this task's own outputs.
                                    let row = unsafe { std::slice::from_raw_parts_mut(out.at(dst + oi * p), len) };
                                    crate::simd::map_inplace(f, row);
                                }
                            }
                        }
                    }
                }
            }
        };
        if parts * bparts > 1 {
            crate::threads::for_each_task(parts * bparts, run);
        } else {
            run(0);
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, wp, b, act, y);
        false
    }
}
