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
//! other activations per chunk after it while the chunk is in L1; a residual (the `Add` of an
//! inverted-residual or ResNet block) is added in registers before the activation. Chunks of
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
///
/// Not chosen when the GEMM runs on its AVX-512 kernel (session 9, Zen 5): the packed 12×32 GEMM
/// beat this 8-lane kernel on every model measured (resnet50 b1 57 → 53 ms, mobilenet_v2 and
/// efficientnet_b0 b1 a little faster too); `ZENRT_POINTWISE=direct` takes it anyway.
pub fn chosen(cs: &ConvShape) -> bool {
    applies(cs) && cs.in_sp.iter().product::<usize>() >= min_pixels() && (forced() || !gemm_is_wider())
}

/// Whether the GEMM's kernel is wider than this kernel's 8 lanes (AVX-512).
fn gemm_is_wider() -> bool {
    crate::ops::gemm::kernels::best().nr > 16
}

/// `ZENRT_POINTWISE=direct`: the direct kernel where it applies even beside the AVX-512 GEMM.
fn forced() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("ZENRT_POINTWISE").is_ok_and(|v| v == "direct"))
}

/// Smallest image (pixels per channel) the direct kernel is chosen for by default.
pub const MIN_PIXELS: usize = 28 * 28;

/// [`MIN_PIXELS`], or `ZENRT_POINTWISE_MIN_PIXELS=<n>` (for comparisons; read once, so plan-time
/// and run-time choices agree).
fn min_pixels() -> usize {
    static N: crate::tuning::EnvNum = crate::tuning::EnvNum::new("ZENRT_POINTWISE_MIN_PIXELS");
    N.or(MIN_PIXELS)
}

/// `ZENRT_POINTWISE=gemm` runs 1×1 convolutions through the GEMM (for comparisons).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("ZENRT_POINTWISE").map_or(true, |v| v != "gemm"))
}

/// The weights `[M, C]` in the kernel's layout (see [`pack_blocks`]).
pub fn pack(w: &[f32], c: usize) -> Vec<f32> {
    pack_blocks(w, c)
}

/// `act(W·X + b + z)` into `y` (`[N, M, P]`; `z`, the residual, laid out like `y`) when
/// [`applies`]; `wp` from [`pack`]. Returns false (nothing written) otherwise.
pub fn pointwise_f32(
    x: &[f32],
    wp: &[f32],
    b: Option<&[f32]>,
    z: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) -> bool {
    if !applies(cs) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let (c, m) = (cs.c, cs.m);
        let p: usize = cs.in_sp.iter().product();
        if x.len() < cs.n * c * p || y.len() < cs.n * m * p || wp.len() < m * c || z.is_some_and(|z| z.len() < y.len())
        {
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
                                // The residual at `dst`, added on the last block of channels.
                                res: z.filter(|_| last).map_or(std::ptr::null(), |z| z[dst..].as_ptr()),
                            };
                            // SAFETY: `applies` checked AVX2+FMA; input channel `ci` of image `n`
                            // is read at `n·C·P + ci·P + p0 .. + len` (partial vectors masked),
                            // inside `x`; `wp` holds the block's `bs·C` weights from `o·C`
                            // (channel-major, so channels `k0..` start at `o·C + k0·bs`), `bias`
                            // its `bs` values; with `acc` the outputs were written by the
                            // previous block of channels; `res` (as long as `y`) is read where
                            // `dst` is written.
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

/// The GEMM's B operand of a 1×1 convolution of one image: `X[C, P]` (row `c` is input channel
/// `c`'s plane, `P` contiguous pixels). Packs its panels with 8-float vector moves, the ragged
/// last panel by masked loads that also write its zero padding — [`crate::ops::gemm::Strided`]
/// copies each panel row through a `memcpy` call (and a `memset` for the padding), which was
/// 7.6% of mobilenet_v2's time at batch 8 (perf; the 1×1 convs at 14² and 7²).
pub struct Planes<'a> {
    data: &'a [f32],
    c: usize,
    p: usize,
}

impl<'a> Planes<'a> {
    /// `c` planes of `p` pixels at the start of `data`; `None` if `data` is shorter.
    pub fn new(data: &'a [f32], c: usize, p: usize) -> Option<Planes<'a>> {
        (data.len() >= c.checked_mul(p)?).then_some(Planes { data, c, p })
    }
}

impl crate::ops::gemm::PackSrc for Planes<'_> {
    fn k(&self) -> usize {
        self.c
    }
    fn other(&self) -> usize {
        self.p
    }
    fn pack(&self, p0: usize, kc: usize, t0: usize, w: usize, r: usize, dst: &mut [f32]) {
        let dst = &mut dst[..kc * r];
        #[cfg(target_arch = "x86_64")]
        if r.is_multiple_of(8) && w <= r && crate::simd::level() != crate::simd::Level::Scalar {
            // Bounds: the last row read ends at `(p0 + kc - 1)·P + t0 + w`.
            if kc > 0 {
                let _ = &self.data[(p0 + kc - 1) * self.p + t0..][..w];
            }
            // SAFETY: AVX2 checked; rows `p0..p0 + kc` read `t0..t0 + w` of their plane (in
            // `data`, checked above; masked-off lanes are not read), `dst` holds `kc·r` floats.
            unsafe { copy_rows_avx2(self.data.as_ptr().add(p0 * self.p + t0), self.p, kc, w, r, dst.as_mut_ptr(), r) };
            return;
        }
        for (pp, row) in dst.chunks_exact_mut(r).enumerate() {
            let s = (p0 + pp) * self.p + t0;
            row[..w].copy_from_slice(&self.data[s..s + w]);
            row[w..].fill(0.0);
        }
    }
}

/// `kc` rows of `w` floats, `sstride` apart from `src`, into rows `dstride` apart at `dst`, each
/// zero-padded to `wpad` floats (`w <= wpad`); nothing past `wpad` is written. Safety: AVX2; the
/// `w` floats of each source row are readable, the `wpad` of each destination row writable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_rows_avx2(
    src: *const f32,
    sstride: usize,
    kc: usize,
    w: usize,
    wpad: usize,
    dst: *mut f32,
    dstride: usize,
) {
    use std::arch::x86_64::*;
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mask = |n: usize| _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), lanes);
    let full = w / 8 * 8;
    for pp in 0..kc {
        let s = src.wrapping_add(pp * sstride);
        let d = dst.add(pp * dstride);
        let mut j = 0;
        while j < full {
            _mm256_storeu_ps(d.add(j), _mm256_loadu_ps(s.add(j)));
            j += 8;
        }
        while j < wpad {
            // Masked-off lanes are neither read (they load as zero) nor written.
            let v = _mm256_maskload_ps(s.wrapping_add(j), mask(w.saturating_sub(j)));
            if j + 8 <= wpad {
                _mm256_storeu_ps(d.add(j), v);
            } else {
                _mm256_maskstore_ps(d.add(j), mask(wpad - j), v);
            }
            j += 8;
        }
    }
}

/// The GEMM's B operand of a 1×1 convolution over a batch of small images: `[C, N·P]`, column
/// `n·P + p` being pixel `p` of image `n` (whose planes are `C·P` apart). One GEMM then covers the
/// batch ([`batched_f32`]): at 7×7, per-image GEMMs fill 49 of every 64 lanes of their 16-wide
/// panels, the batch's 392 columns 392 of 400.
pub struct BatchPlanes<'a> {
    data: &'a [f32],
    n: usize,
    c: usize,
    p: usize,
}

impl<'a> BatchPlanes<'a> {
    /// `n` images of `c` planes of `p` pixels at the start of `data`; `None` if `data` is shorter.
    pub fn new(data: &'a [f32], n: usize, c: usize, p: usize) -> Option<BatchPlanes<'a>> {
        (data.len() >= n.checked_mul(c)?.checked_mul(p)?).then_some(BatchPlanes { data, n, c, p })
    }
}

impl crate::ops::gemm::PackSrc for BatchPlanes<'_> {
    fn k(&self) -> usize {
        self.c
    }
    fn other(&self) -> usize {
        self.n * self.p
    }
    fn pack(&self, p0: usize, kc: usize, t0: usize, w: usize, r: usize, dst: &mut [f32]) {
        let dst = &mut dst[..kc * r];
        // Each image's columns of the panel, left to right; the last is padded to the panel width.
        let mut t = t0;
        while t < t0 + w {
            let (img, px) = (t / self.p, t % self.p);
            let len = (self.p - px).min(t0 + w - t);
            let o = t - t0;
            let wpad = if t + len == t0 + w { r - o } else { len };
            let base = img * self.c * self.p + p0 * self.p + px;
            #[cfg(target_arch = "x86_64")]
            if crate::simd::level() != crate::simd::Level::Scalar {
                if kc > 0 {
                    let _ = &self.data[base + (kc - 1) * self.p..][..len];
                }
                // SAFETY: AVX2 checked; rows `p0..p0 + kc` of image `img` read `px..px + len` of
                // their plane (checked above), `dst` rows are `r` long and `o + wpad <= r`.
                unsafe {
                    copy_rows_avx2(self.data.as_ptr().add(base), self.p, kc, len, wpad, dst.as_mut_ptr().add(o), r)
                };
                t += len;
                continue;
            }
            for (pp, row) in dst.chunks_exact_mut(r).enumerate() {
                let s = base + pp * self.p;
                row[o..o + len].copy_from_slice(&self.data[s..s + len]);
                row[o + len..o + wpad].fill(0.0);
            }
            t += len;
        }
        if w == 0 {
            dst.fill(0.0);
        }
    }
}

/// Images of at most this many pixels run their 1×1 convolutions as one GEMM over the batch
/// ([`batched_f32`]); `ZENRT_POINTWISE_BATCH_PIXELS=<n>` to experiment (0: off).
fn batch_pixels() -> usize {
    static N: crate::tuning::EnvNum = crate::tuning::EnvNum::new("ZENRT_POINTWISE_BATCH_PIXELS");
    N.or(BATCH_PIXELS)
}

/// Default of [`batch_pixels`]: 7×7 images.
const BATCH_PIXELS: usize = 7 * 7;

/// Whether a group-1 1×1 convolution (stride 1, no pads) of `cs` runs as one GEMM over the batch.
pub fn batched(cs: &ConvShape) -> bool {
    cs.n > 1 && cs.group == 1 && cs.in_sp.iter().product::<usize>() <= batch_pixels()
}

/// `act(W·X + b + z)` for a 1×1 convolution as one GEMM over the batch (see [`BatchPlanes`]):
/// `S[M, N·P]` into a scratch buffer (bias, and the activation when there is no residual, in the
/// epilogue), then scattered into `y` `[N, M, P]`.
#[allow(clippy::too_many_arguments)]
pub fn batched_f32(
    kern: &'static crate::ops::gemm::Kernel,
    a: crate::ops::gemm::Operand,
    x: &[f32],
    b: Option<&[f32]>,
    z: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) -> crate::Result<()> {
    use crate::ops::gemm::{sgemm, Bias, Epilogue, Operand};
    let (n, c, m) = (cs.n, cs.c, cs.m);
    let p: usize = cs.in_sp.iter().product();
    crate::ensure!(y.len() == n * m * p, "Conv: output length mismatch");
    let Some(src) = BatchPlanes::new(x, n, c, p) else { crate::bail!("Conv: input data length mismatch") };
    let cols = n * p;
    let mut s = crate::memory::alloc_for_overwrite::<f32>(m * cols);
    let bias = b.map_or(Bias::None, Bias::PerRow);
    let gact = if z.is_some() { Activation::None } else { act };
    sgemm(kern, 1.0, a, Operand::Src(&src), 0.0, &mut s, cols, 1, &Epilogue { bias, act: gact, residual: None })?;
    // Rows of `S` into the images' planes, adding the residual and applying the activation after
    // it (when there is one) while each plane is in cache; images split over the pool's threads.
    let f = act.simd_f32().filter(|_| z.is_some());
    crate::simd::par::for_chunks(y, m * p, |start, part| {
        for (k, row) in part.chunks_exact_mut(p).enumerate() {
            let (img, mi) = ((start / p + k) / m, (start / p + k) % m);
            row.copy_from_slice(&s[mi * cols + img * p..][..p]);
            if let Some(z) = z {
                let at = start + k * p;
                crate::simd::binary_inplace(crate::simd::BinFn::Add, row, &z[at..at + p]);
                if let Some(f) = f {
                    crate::simd::map_inplace(f, row);
                }
            }
        }
    });
    crate::memory::recycle(s);
    Ok(())
}
