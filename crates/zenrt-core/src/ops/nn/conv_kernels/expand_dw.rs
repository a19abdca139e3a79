//! A 1×1 expansion convolution followed by a depthwise convolution (MobileNet/EfficientNet's
//! inverted-residual blocks), computed so the wide expanded tensor never leaves the cache. The
//! expanded channels are taken in groups of at most [`GROUP`] (the expansion weights of each
//! group pre-packed as the GEMM's left operand, [`ExpandWeights`]); for each group, the output
//! rows in bands: the expansion GEMM ([`sgemm`]) writes only the input rows the band's windows
//! read (the `k - s` halo rows are kept from the band before, not recomputed) into a small
//! scratch, and the depthwise plane kernel ([`PlaneKernel`]) reads them back from there. Only
//! the depthwise output is written to memory.
//!
//! Tasks over the pool: whole images when there are at least as many as threads, otherwise
//! ranges of output rows of each image (a range recomputes its first band's halo rows).

use super::depthwise::PlaneKernel;
use super::padded::{pad_plane, Padded};
use super::ConvShape;
use crate::ops::fused::Activation;
use crate::ops::gemm::{kernels, sgemm, Bias, Epilogue, Kernel, Operand, PackedMat, Strided};
use crate::{ensure, Result};

/// Most expanded channels per group (the GEMM's `MC` block).
const GROUP: usize = 144;

/// Bytes of expanded rows of one channel group kept per band (fits the 512 KiB L2 with the depthwise
/// output band and the padded plane beside it); `ZENRT_EXPAND_BAND=<KiB>` overrides it.
const BAND_BYTES: usize = 192 << 10;

fn band_bytes() -> usize {
    static KIB: crate::tuning::EnvNum = crate::tuning::EnvNum::new("ZENRT_EXPAND_BAND");
    KIB.get().map_or(BAND_BYTES, |k| k << 10)
}

/// The expansion weights `[E, C]` packed per group of at most [`GROUP`] channels.
#[derive(Debug)]
pub struct ExpandWeights {
    pub e: usize,
    pub c: usize,
    kern: &'static Kernel,
    /// `(first channel, packed rows)` of each group.
    groups: Vec<(usize, PackedMat)>,
}

impl ExpandWeights {
    pub fn new(we: &[f32], e: usize, c: usize) -> Result<ExpandWeights> {
        ensure!(we.len() == e * c, "FusedExpandDepthwise: expansion weight length mismatch");
        let kern = kernels::best();
        let count = e.div_ceil(GROUP).max(1);
        let size = e.div_ceil(count).next_multiple_of(kern.mr);
        let groups = (0..e)
            .step_by(size.max(1))
            .map(|c0| {
                let c1 = (c0 + size).min(e);
                Ok((c0, PackedMat::new(&Strided::new(&we[c0 * c..c1 * c], c, c1 - c0, 1, c)?, kern, true)?))
            })
            .collect::<Result<_>>()?;
        Ok(ExpandWeights { e, c, kern, groups })
    }

    /// Bytes of packed weights held.
    pub fn bytes(&self) -> usize {
        self.groups.iter().map(|(_, p)| p.bytes()).sum()
    }
}

/// The operands of `dw(act_e(We·x + be))`: `x` `[N, C, H, W]`, `we` `[E, C]` (packed), `wd`
/// `[E, k·k]`.
#[derive(Clone, Copy)]
pub struct ExpandDw<'a> {
    pub x: &'a [f32],
    pub we: &'a ExpandWeights,
    pub be: Option<&'a [f32]>,
    pub act_e: Activation,
    pub wd: &'a [f32],
    pub bd: Option<&'a [f32]>,
    pub act_d: Activation,
}

/// Narrowest depthwise output for which the fusion pays (measured per layer on MobileNetV2 at
/// batch 1, docs/kernels.md: fused faster at 56 wide, slower at 28, where the plain depthwise
/// conv's kernels and one GEMM over the whole plane beat the per-band GEMMs).
const FUSED_MIN_OW: usize = 29;

/// Whether fusing pays for a depthwise output `ow` wide (`ZENRT_EXPAND_DW_MIN_OW=<n>` overrides
/// the narrowest width, for tuning).
pub fn fusion_pays(ow: usize) -> bool {
    static MIN: crate::tuning::EnvNum = crate::tuning::EnvNum::new("ZENRT_EXPAND_DW_MIN_OW");
    ow >= MIN.or(FUSED_MIN_OW)
}

/// Whether [`expand_dw_f32`] computes the depthwise convolution `cs` (its input is the expanded
/// tensor `[N, E, H, W]`): a 2-D depthwise geometry the tiled kernel takes.
pub fn expand_dw_applies(cs: &ConvShape) -> bool {
    cs.group == cs.c && cs.m == cs.c && cs.in_sp.len() == 2 && PlaneKernel::for_shape(cs).is_some()
}

/// `act_d(dw(act_e(We·x + be)) + bd)` into `y` (`[N, E, OH, OW]`); `cs` is the depthwise
/// convolution's shape. Errors when the fast path does not apply ([`expand_dw_applies`]).
pub fn expand_dw_f32(p: &ExpandDw, cs: &ConvShape, y: &mut [f32]) -> Result<()> {
    expand_dw_with(p, cs, y, band_bytes())
}

/// The output pointer shared by tasks writing disjoint row ranges.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32, usize);
// SAFETY: tasks write disjoint (image, row range) parts of the output (see `expand_dw_with`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// [`expand_dw_f32`] keeping about `budget` bytes of expanded rows per channel group and band.
pub fn expand_dw_with(p: &ExpandDw, cs: &ConvShape, y: &mut [f32], budget: usize) -> Result<()> {
    let kern = PlaneKernel::for_shape(cs).filter(|_| expand_dw_applies(cs));
    let Some(kern) = kern else { crate::bail!("internal: fused expand+depthwise does not apply to {cs:?}") };
    let (e, c, [h, w], oh) = (cs.m, p.we.c, [cs.in_sp[0], cs.in_sp[1]], cs.geo.out[0]);
    let plane = oh * cs.geo.out[1];
    ensure!(p.we.e == e, "FusedExpandDepthwise: packed weights were made for another conv");
    ensure!(p.x.len() == cs.n * c * h * w, "FusedExpandDepthwise: input data length mismatch");
    ensure!(p.wd.len() == e * cs.geo.kernel_size(), "FusedExpandDepthwise: weight length mismatch");
    ensure!(
        p.be.is_none_or(|b| b.len() == e) && p.bd.is_none_or(|b| b.len() == e),
        "FusedExpandDepthwise: bias length"
    );
    ensure!(y.len() == cs.n * e * plane, "FusedExpandDepthwise: output length mismatch");
    if y.is_empty() {
        return Ok(());
    }
    let threads = crate::threads::current();
    // Row ranges per image: enough tasks for the threads, each range at least 4 rows.
    let ranges = if cs.n >= threads { 1 } else { threads.div_ceil(cs.n).min(oh.div_ceil(4)).max(1) };
    let per = oh.div_ceil(ranges);
    let out = OutPtr(y.as_mut_ptr(), y.len());
    let task = Task { p, cs, kern, budget };
    crate::threads::try_for_each_task(cs.n * ranges, |t| {
        let (n, r) = (t / ranges, t % ranges);
        let (r0, r1) = (r * per, ((r + 1) * per).min(oh));
        if r0 < r1 {
            task.rows(n, r0, r1, out)
        } else {
            Ok(())
        }
    })
}

/// The shared operands of the tasks.
struct Task<'a> {
    p: &'a ExpandDw<'a>,
    cs: &'a ConvShape,
    kern: PlaneKernel,
    budget: usize,
}

impl Task<'_> {
    /// Output rows `r0..r1` of every channel of image `n`.
    fn rows(&self, n: usize, r0: usize, r1: usize, out: OutPtr) -> Result<()> {
        let (p, cs) = (self.p, self.cs);
        let g = &cs.geo;
        let (k, s) = (g.kernel[0], g.strides[0]);
        let ([h, w], [oh, ow]) = ([cs.in_sp[0], cs.in_sp[1]], [g.out[0], g.out[1]]);
        let (pt, pl) = (g.pads_begin[0], g.pads_begin[1]);
        let (c, ksize, e) = (p.we.c, g.kernel_size(), cs.m);
        let xn = &p.x[n * c * h * w..][..c * h * w];
        let gmax = p.we.groups.iter().map(|(_, pm)| pm.other).max().unwrap_or(1);
        // Output rows per band: the expanded rows of a group within the budget, at least 4
        // (the kernel's tile height), at most the range.
        let rows_fit = self.budget / (gmax * w * 4).max(1);
        let bh = (rows_fit.saturating_sub(k) / s + 1).max(4).min(r1 - r0);
        let rows_in = (bh - 1) * s + k;
        // Expanded rows of a group: channel `ci` at `ci * rs`, input row `ex_lo + r` at `r * w`.
        let rs = rows_in * w;
        let mut ex = crate::memory::alloc_for_overwrite::<f32>(gmax * rs);
        let mut pad = crate::memory::alloc_for_overwrite::<f32>(Padded::new([k, k], [s, s], [bh, ow]).len());
        for (c0, pm) in &p.we.groups {
            let (c0, cc) = (*c0, pm.other);
            let bias = match p.be {
                Some(b) => Bias::PerRow(&b[c0..c0 + cc]),
                None => Bias::None,
            };
            let ep = Epilogue { bias, act: p.act_e, residual: None };
            let (mut ex_lo, mut ex_hi) = (0usize, 0usize);
            let mut y0 = r0;
            while y0 < r1 {
                let bhb = bh.min(r1 - y0);
                // Input rows under this band's windows, clipped to the image.
                let want_lo = (y0 * s) as i64 - pt;
                let want_hi = want_lo + ((bhb - 1) * s + k) as i64;
                let lo = want_lo.clamp(0, h as i64) as usize;
                let hi = (want_hi.clamp(0, h as i64) as usize).max(lo);
                // Rows lo..ex_hi were expanded for the band before: move them to the front.
                let keep = if ex_lo <= lo && lo < ex_hi { ex_hi - lo } else { 0 };
                if keep > 0 && lo > ex_lo {
                    for ch in ex.chunks_exact_mut(rs).take(cc) {
                        ch.copy_within((lo - ex_lo) * w..(ex_hi - ex_lo) * w, 0);
                    }
                }
                if hi > lo + keep {
                    let xsrc = Strided::new(&xn[(lo + keep) * w..], c, (hi - lo - keep) * w, h * w, 1)?;
                    let a = Operand::Packed(pm);
                    sgemm(p.we.kern, 1.0, a, Operand::Src(&xsrc), 0.0, &mut ex[keep * w..], rs, 1, &ep)?;
                }
                (ex_lo, ex_hi) = (lo, hi);
                let pd = Padded::new([k, k], [s, s], [bhb, ow]);
                for ci in 0..cc {
                    let ch = c0 + ci;
                    let src = &ex[ci * rs..][..(hi - lo) * w];
                    pad_plane(src, [hi - lo, w], [lo as i64 - want_lo, pl], pd, &mut pad);
                    let start = ((n * e + ch) * oh + y0) * ow;
                    assert!(start + bhb * ow <= out.1);
                    // SAFETY: inside the output (checked); rows `r0..r1` of image `n` belong to
                    // this task only, and `y` outlives the tasks (`expand_dw_with` waits).
                    let dst = unsafe { std::slice::from_raw_parts_mut(out.0.add(start), bhb * ow) };
                    let bias = p.bd.map_or(0.0, |b| b[ch]);
                    self.kern.run(&pad, pd, &p.wd[ch * ksize..(ch + 1) * ksize], bias, p.act_d, bhb, ow, dst);
                }
                y0 += bhb;
            }
        }
        crate::memory::recycle(ex);
        crate::memory::recycle(pad);
        Ok(())
    }
}
