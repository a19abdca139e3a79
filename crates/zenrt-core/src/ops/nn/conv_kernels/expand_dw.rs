//! A 1×1 expansion convolution followed by a depthwise convolution (MobileNet/EfficientNet's
//! inverted-residual blocks), computed in bands of output rows so the wide expanded tensor never
//! leaves the cache: for each band, the expansion GEMM ([`sgemm`]) writes only the input rows
//! that band's windows read (its `k - s` halo rows are kept from the band before, not
//! recomputed) into a small scratch, and the depthwise plane kernel ([`PlaneKernel`]) reads it
//! back from there. Only the depthwise output is written to memory.
//!
//! Work is split over the pool by images when there are at least as many as threads, by
//! channel ranges otherwise (each task computes its own channels' expansion).

use super::depthwise::PlaneKernel;
use super::padded::{pad_plane, Padded};
use super::ConvShape;
use crate::ops::fused::Activation;
use crate::ops::gemm::{kernels, sgemm, Bias, Epilogue, Operand, Strided};
use crate::{ensure, Result};

/// Bytes of expanded rows one task keeps per band (fits the 512 KiB L2 with the depthwise
/// output band and the padded plane beside it); `ZENRT_EXPAND_BAND=<KiB>` overrides it.
const BAND_BYTES: usize = 192 << 10;

fn band_bytes() -> usize {
    static B: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *B.get_or_init(|| {
        std::env::var("ZENRT_EXPAND_BAND").ok().and_then(|v| v.parse::<usize>().ok()).map_or(BAND_BYTES, |k| k << 10)
    })
}

/// The operands of `dw(act_e(We·x + be))`: `x` `[N, C, H, W]`, `we` `[E, C]`, `wd` `[E, k·k]`.
#[derive(Clone, Copy)]
pub struct ExpandDw<'a> {
    pub x: &'a [f32],
    pub c: usize,
    pub we: &'a [f32],
    pub be: Option<&'a [f32]>,
    pub act_e: Activation,
    pub wd: &'a [f32],
    pub bd: Option<&'a [f32]>,
    pub act_d: Activation,
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

/// [`expand_dw_f32`] keeping about `budget` bytes of expanded rows per task and band.
pub fn expand_dw_with(p: &ExpandDw, cs: &ConvShape, y: &mut [f32], budget: usize) -> Result<()> {
    let kern = PlaneKernel::for_shape(cs).filter(|_| expand_dw_applies(cs));
    let Some(kern) = kern else { crate::bail!("internal: fused expand+depthwise does not apply to {cs:?}") };
    let (e, [h, w], [oh, ow]) = (cs.m, [cs.in_sp[0], cs.in_sp[1]], [cs.geo.out[0], cs.geo.out[1]]);
    let ksize = cs.geo.kernel_size();
    ensure!(p.x.len() == cs.n * p.c * h * w, "FusedExpandDepthwise: input data length mismatch");
    ensure!(p.we.len() == e * p.c && p.wd.len() == e * ksize, "FusedExpandDepthwise: weight length mismatch");
    ensure!(
        p.be.is_none_or(|b| b.len() == e) && p.bd.is_none_or(|b| b.len() == e),
        "FusedExpandDepthwise: bias length"
    );
    let plane = oh * ow;
    ensure!(y.len() == cs.n * e * plane, "FusedExpandDepthwise: output length mismatch");
    if y.is_empty() {
        return Ok(());
    }
    let threads = crate::threads::current();
    if cs.n >= threads {
        // Whole images per task.
        let per = cs.n.div_ceil(threads.max(1));
        return crate::threads::try_for_each_chunk(y, per * e * plane, |t, ys| {
            for (k, yn) in ys.chunks_mut(e * plane).enumerate() {
                Band::new(p, cs, kern, budget, 0, e).image(t * per + k, yn)?;
            }
            Ok(())
        });
    }
    // Channel ranges of each image over the tasks.
    let per = e.div_ceil(threads.min(e));
    for (n, yn) in y.chunks_mut(e * plane).enumerate() {
        crate::threads::try_for_each_chunk(yn, per * plane, |t, ys| {
            let c0 = t * per;
            Band::new(p, cs, kern, budget, c0, c0 + ys.len() / plane).image(n, ys)
        })?;
    }
    Ok(())
}

/// One task's view: channels `c0..c1` of the expansion and depthwise convolution.
struct Band<'a> {
    p: &'a ExpandDw<'a>,
    cs: &'a ConvShape,
    kern: PlaneKernel,
    budget: usize,
    c0: usize,
    c1: usize,
}

impl<'a> Band<'a> {
    fn new(p: &'a ExpandDw<'a>, cs: &'a ConvShape, kern: PlaneKernel, budget: usize, c0: usize, c1: usize) -> Band<'a> {
        Band { p, cs, kern, budget, c0, c1 }
    }

    /// Output rows per band: as many as keep the expanded rows of this task's channels within
    /// `budget` bytes, at least 4 (the kernel's tile height) and at most the whole plane.
    fn band_rows(&self) -> usize {
        let g = &self.cs.geo;
        let (k, s, w) = (g.kernel[0], g.strides[0], self.cs.in_sp[1]);
        let row_bytes = (self.c1 - self.c0) * w * 4;
        let rows_in = self.budget / row_bytes.max(1);
        (rows_in.saturating_sub(k) / s + 1).max(4).min(g.out[0].max(1))
    }

    /// Channels `c0..c1` of image `n` into `yc` (`(c1 - c0)` output planes).
    fn image(&self, n: usize, yc: &mut [f32]) -> Result<()> {
        let (p, cs) = (self.p, self.cs);
        let g = &cs.geo;
        let (k, s) = (g.kernel[0], g.strides[0]);
        let ([h, w], [oh, ow]) = ([cs.in_sp[0], cs.in_sp[1]], [g.out[0], g.out[1]]);
        let (pt, pl) = (g.pads_begin[0], g.pads_begin[1]);
        let (cc, ksize) = (self.c1 - self.c0, g.kernel_size());
        let bh = self.band_rows();
        let rows_in = (bh - 1) * s + k;
        // Expanded rows of every channel of the task: channel `ci` at `ci * rs`, input row
        // `ex_lo + r` at `r * w` in it.
        let rs = rows_in * w;
        let mut ex = crate::memory::alloc_for_overwrite::<f32>(cc * rs);
        let mut pad = crate::memory::alloc_for_overwrite::<f32>(Padded::new([k, k], [s, s], [bh, ow]).len());
        let xn = &p.x[n * p.c * h * w..][..p.c * h * w];
        let wsrc = Strided::new(&p.we[self.c0 * p.c..self.c1 * p.c], p.c, cc, 1, p.c)?;
        let bias = match p.be {
            Some(b) => Bias::PerRow(&b[self.c0..self.c1]),
            None => Bias::None,
        };
        let ep = Epilogue { bias, act: p.act_e };
        let kern = kernels::best();
        let (mut ex_lo, mut ex_hi) = (0usize, 0usize);
        let mut y0 = 0;
        while y0 < oh {
            let bhb = bh.min(oh - y0);
            // Input rows under this band's windows, clipped to the image.
            let want_lo = (y0 * s) as i64 - pt;
            let want_hi = want_lo + ((bhb - 1) * s + k) as i64;
            let lo = want_lo.clamp(0, h as i64) as usize;
            let hi = (want_hi.clamp(0, h as i64) as usize).max(lo);
            // Rows lo..ex_hi were expanded for the band before: move them to the front.
            let keep = if ex_lo <= lo && lo < ex_hi { ex_hi - lo } else { 0 };
            if keep > 0 && lo > ex_lo {
                for ch in ex.chunks_exact_mut(rs) {
                    ch.copy_within((lo - ex_lo) * w..(ex_hi - ex_lo) * w, 0);
                }
            }
            if hi > lo + keep {
                let xsrc = Strided::new(&xn[(lo + keep) * w..], p.c, (hi - lo - keep) * w, h * w, 1)?;
                sgemm(kern, 1.0, Operand::Src(&wsrc), Operand::Src(&xsrc), 0.0, &mut ex[keep * w..], rs, 1, &ep)?;
            }
            (ex_lo, ex_hi) = (lo, hi);
            let pd = Padded::new([k, k], [s, s], [bhb, ow]);
            for (ci, yp) in yc.chunks_exact_mut(oh * ow).enumerate() {
                let c = self.c0 + ci;
                let src = &ex[ci * rs..][..(hi - lo) * w];
                pad_plane(src, [hi - lo, w], [lo as i64 - want_lo, pl], pd, &mut pad);
                let bias = p.bd.map_or(0.0, |b| b[c]);
                let dst = &mut yp[y0 * ow..(y0 + bhb) * ow];
                self.kern.run(&pad, pd, &p.wd[c * ksize..(c + 1) * ksize], bias, p.act_d, bhb, ow, dst);
            }
            y0 += bhb;
        }
        crate::memory::recycle(ex);
        crate::memory::recycle(pad);
        Ok(())
    }
}
