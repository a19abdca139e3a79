//! The f32 convolution fast path (used by Conv and `com.zenrt.FusedConv`; f64 and
//! f16/bf16 keep the reference path of `conv.rs`, f16/bf16 computing in f32 through here).
//!
//! - 1×1, stride 1, no padding, group 1: a direct register-tiled kernel reading the input in place
//!   ([`pointwise`]; the GEMM `W[M, C] · X[C, HW]` without AVX2 or with `ZENRT_POINTWISE=gemm`).
//! - other 2-D convolutions: GEMM whose B panels are packed straight from the image
//!   ([`Im2col2d`], an implicit im2col: no `[C·kh·kw, HW]` buffer).
//! - 1-D/3-D convolutions: explicit im2col + GEMM.
//! - group-1 3×3 stride-2 2-D convolutions (AVX-512): a direct kernel over stride-phase copies
//!   of the input ([`direct_s2`]).
//! - depthwise 2-D (one input channel per group): direct sliding-window kernel, parallel over
//!   channel planes.
//! - group-1 2-D with at most 4 input channels (RGB stems): direct register-tiled kernel
//!   ([`few_channels`]).
//!
//! Bias and the activation are applied in the GEMM epilogue. Weights can be packed once at
//! plan time ([`PackedConvWeights`]).

mod depthwise;
pub mod direct_s2;
pub mod expand_dw;
mod few_channels;
mod im2col2d;
mod padded;
mod pointwise;
pub mod transposed;
pub mod winograd;

use super::conv::{im2col, ConvShape};
use crate::ops::fused::Activation;
use crate::ops::gemm::{kernels, sgemm, Bias, Epilogue, Kernel, Operand, PackedMat, Rows, Strided};
use crate::{bail, checked_numel, ensure, DType, Result};
use im2col2d::Im2col2d;
use std::sync::OnceLock;
use winograd::{Tile, WinogradWeights};

/// Runs `f(i, a_i, b_i)` over the zipped chunks of `a` (`ca` long) and `b` (`cb` long), in
/// parallel when `par` (in the installed pool), serially otherwise.
pub(super) fn split_zip<A: Send, B: Send>(
    par: bool,
    a: &mut [A],
    ca: usize,
    b: &mut [B],
    cb: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync + Send,
) {
    let (ca, cb) = (ca.max(1), cb.max(1));
    if par {
        crate::threads::for_each_chunk_zip(a, ca, b, cb, f);
    } else {
        a.chunks_mut(ca).zip(b.chunks_mut(cb)).enumerate().for_each(|(i, (x, y))| f(i, x, y));
    }
}

/// The Winograd tile chosen at plan time: `ZENRT_WINOGRAD=off|2|4` (default 4).
fn winograd_tile() -> Option<Tile> {
    match std::env::var("ZENRT_WINOGRAD").as_deref() {
        Ok("off") | Ok("0") => None,
        Ok("2") => Some(Tile::F2),
        _ => Some(Tile::F4),
    }
}

/// Whether `ZENRT_WINOGRAD` leaves the tile to the shape (unset or unrecognised).
fn winograd_auto() -> bool {
    !matches!(std::env::var("ZENRT_WINOGRAD").as_deref(), Ok("off" | "0" | "2" | "4"))
}

/// The Winograd tile for a conv whose one-image shape is `one` (when static): `ZENRT_WINOGRAD`'s,
/// or by default F(4×4) where it pays, else F(2×2) where that pays — 7×7 images (4 F(4×4) tiles,
/// 16 F(2×2) ones): ResNet-50's 512-channel 3×3 convs at 7×7 took 1.20 ms by F(2×2) against 1.40
/// by the transposed GEMM and 2.97 by F(4×4) (session 9, per layer, docs/kernels.md).
fn winograd_tile_for(one: Option<&ConvShape>) -> Option<Tile> {
    let t = winograd_tile()?;
    match (t, one) {
        (Tile::F4, Some(cs))
            if winograd_auto()
                && winograd::applies(cs)
                && !winograd::pays(cs, Tile::F4)
                && winograd::pays(cs, Tile::F2) =>
        {
            Some(Tile::F2)
        }
        _ => Some(t),
    }
}

/// Conv weights `[M, C/group, k...]` packed per group as the GEMM's left operand, and for
/// Winograd-eligible 3×3 convolutions their transformed filters. Only the form the calls will use
/// is built at plan time ([`Self::plan`]). When the input's channel and spatial dims are static,
/// that form is *final*: every call uses it whatever the batch, and the raw weights are no longer
/// needed ([`Self::needs_raw`]; the plan then releases them). Otherwise the other form is built
/// from the raw weights on the first call that needs it.
#[derive(Debug)]
pub struct PackedConvWeights {
    pub shape: Vec<usize>,
    pub group: usize,
    kern: &'static Kernel,
    /// Per-group GEMM packing (im2col / 1×1 path).
    groups: OnceLock<Vec<PackedMat>>,
    /// The Winograd tile and transformed weights (3×3, group 1, stride 1, dilation 1).
    wino: Option<(Tile, OnceLock<WinogradWeights>)>,
    /// The weights in the direct pointwise kernel's layout ([`pointwise::pack`]).
    pointwise: OnceLock<Vec<f32>>,
    /// The weights as the right operand of the transposed GEMM (group 1, [`transposed::pack`]).
    trans: OnceLock<PackedMat>,
    /// The weights of the direct 3×3 stride-2 kernel ([`direct_s2::pack`]).
    s2: OnceLock<Vec<f32>>,
    /// The form built at plan time serves every call (static spatial dims); see [`Self::plan`].
    fixed: bool,
}

/// The value in `cell`, built by `f` if it is empty (`OnceLock::get_or_try_init` is unstable).
fn get_or_build<T>(cell: &OnceLock<T>, f: impl FnOnce() -> Result<T>) -> Result<&T> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = f()?;
    Ok(cell.get_or_init(|| v))
}

impl PackedConvWeights {
    /// Packs `w` (shape `shape`) for `group` groups as GEMM operands, no Winograd; `None` when
    /// the layout does not apply (depthwise convolutions use the direct kernel and need no packing).
    pub fn new(w: &[f32], shape: &[usize], group: usize) -> Result<Option<PackedConvWeights>> {
        PackedConvWeights::plan(w, shape, group, false, None)
    }

    /// Plan-time packing. `winograd_ok`: stride 1 and dilation 1 (Winograd may apply to a 3×3
    /// group-1 conv; `ZENRT_WINOGRAD=off` turns it off). `one_image`: the conv's shape at batch 1
    /// when the input's channel and spatial dims are static — the form is then chosen for one
    /// image (Winograd when it pays there, else the GEMM packing) and is final: larger batches
    /// use it too, so one form is held and the raw weights can go (except for the few-channel
    /// stem kernel, which reads them). Without static dims the GEMM packing is built now and
    /// Winograd's on the first call it pays for.
    pub fn plan(
        w: &[f32],
        shape: &[usize],
        group: usize,
        winograd_ok: bool,
        one_image: Option<&ConvShape>,
    ) -> Result<Option<PackedConvWeights>> {
        if shape.len() < 3 || group == 0 || !shape[0].is_multiple_of(group) || shape[1] == 1 && shape.len() == 4 {
            return Ok(None);
        }
        let kdim = shape[1] * shape[2..].iter().product::<usize>();
        ensure!(w.len() == shape[0] * kdim, "Conv: weight data length mismatch");
        let tile = winograd_tile_for(one_image)
            .filter(|_| winograd_ok && group == 1 && shape.len() == 4 && shape[2..] == [3, 3]);
        let few_channels = group == 1 && shape.len() == 4 && shape[1] <= few_channels::FEW_CHANNELS;
        let p = PackedConvWeights {
            shape: shape.to_vec(),
            group,
            kern: kernels::best(),
            groups: OnceLock::new(),
            wino: tile.map(|t| (t, OnceLock::new())),
            pointwise: OnceLock::new(),
            trans: OnceLock::new(),
            s2: OnceLock::new(),
            fixed: one_image.is_some() && !few_channels,
        };
        match (tile, one_image) {
            (Some(t), Some(cs)) if winograd::applies(cs) && winograd::pays(cs, t) => {
                if let Some((_, cell)) = &p.wino {
                    get_or_build(cell, || WinogradWeights::new(w, shape[0], shape[1], t, p.kern))?;
                }
            }
            // The few-channel kernel reads the raw weights (kept: `fixed` is false), so the GEMM
            // packing is left to the first call that needs it (none where that kernel applies).
            _ if few_channels => {}
            (_, Some(cs)) if pointwise::chosen(cs) => {
                p.pointwise_for(Some(w))?;
            }
            (_, Some(cs)) if direct_s2::chosen(cs) => {
                p.s2_for(Some(w))?;
            }
            (_, Some(cs)) if transposed::chosen(cs) => {
                p.trans_for(Some(w))?;
            }
            _ => {
                p.packed_groups(Some(w))?;
            }
        }
        Ok(Some(p))
    }

    /// Whether calls still need the raw weights (false once the form is final, see [`Self::plan`]).
    pub fn needs_raw(&self) -> bool {
        !self.fixed
    }

    /// The raw weights, which a form built on first use needs.
    fn raw<'a>(&self, raw: Option<&'a [f32]>) -> Result<&'a [f32]> {
        match raw {
            Some(w) => Ok(w),
            None => bail!("internal: conv weights were released but their packed form does not cover this call"),
        }
    }

    /// The per-group GEMM packing of `raw` (these weights), built on first use.
    fn packed_groups(&self, raw: Option<&[f32]>) -> Result<&[PackedMat]> {
        if let Some(v) = self.groups.get() {
            return Ok(v);
        }
        let w = self.raw(raw)?;
        let (mg, kdim) = (self.shape[0] / self.group, w.len() / self.shape[0].max(1));
        let v = get_or_build(&self.groups, || {
            (0..self.group)
                .map(|g| {
                    let wg = &w[g * mg * kdim..(g + 1) * mg * kdim];
                    PackedMat::new(&Strided::new(wg, kdim, mg, 1, kdim)?, self.kern, true)
                })
                .collect()
        })?;
        Ok(v)
    }

    /// The Winograd weights when Winograd runs for `cs`: always when they are the final form,
    /// else when it pays (built from `raw` on first use).
    fn winograd_for(&self, cs: &ConvShape, raw: Option<&[f32]>) -> Result<Option<&WinogradWeights>> {
        let Some((tile, cell)) = &self.wino else { return Ok(None) };
        if !winograd::applies(cs) {
            return Ok(None);
        }
        if self.fixed || !winograd::pays(cs, *tile) {
            return Ok(cell.get());
        }
        let (m, c) = (self.shape[0], self.shape[1]);
        get_or_build(cell, || WinogradWeights::new(self.raw(raw)?, m, c, *tile, self.kern)).map(Some)
    }

    /// The weights in the pointwise kernel's layout, built from `raw` on first use.
    fn pointwise_for(&self, raw: Option<&[f32]>) -> Result<&[f32]> {
        let c = self.shape[1..].iter().product();
        get_or_build(&self.pointwise, || Ok(pointwise::pack(self.raw(raw)?, c))).map(Vec::as_slice)
    }

    /// The weights as the transposed GEMM's right operand, built from `raw` on first use.
    fn trans_for(&self, raw: Option<&[f32]>) -> Result<&PackedMat> {
        let (m, kdim) = (self.shape[0], self.shape[1..].iter().product());
        get_or_build(&self.trans, || transposed::pack(self.raw(raw)?, m, kdim, self.kern))
    }

    /// The weights in the direct 3×3 stride-2 kernel's layout, built from `raw` on first use.
    fn s2_for(&self, raw: Option<&[f32]>) -> Result<&[f32]> {
        let (m, c) = (self.shape[0], self.shape[1]);
        get_or_build(&self.s2, || Ok(direct_s2::pack(self.raw(raw)?, m, c))).map(Vec::as_slice)
    }

    /// Bytes held by the packed forms built so far.
    pub fn held_bytes(&self) -> usize {
        let g: usize = self.groups.get().map_or(0, |v| v.iter().map(PackedMat::bytes).sum());
        let wi = self.wino.as_ref().and_then(|(_, c)| c.get()).map_or(0, WinogradWeights::bytes);
        let pw = self.pointwise.get().map_or(0, |v| v.len() * 4);
        let tr = self.trans.get().map_or(0, PackedMat::bytes);
        let s2 = self.s2.get().map_or(0, |v| v.len() * 4);
        g + wi + pw + tr + s2
    }
}

/// The weights of one call: raw, or pre-packed (with the raw weights they were packed from, for
/// a form built on first use; `None` once the plan released them, see [`PackedConvWeights::needs_raw`]).
#[derive(Clone, Copy)]
pub enum ConvWeights<'a> {
    Raw(&'a [f32]),
    Packed(&'a PackedConvWeights, Option<&'a [f32]>),
}

/// Multiply-adds of one image's GEMMs below which batched images are split over threads by image
/// (larger ones split inside their GEMM).
const IMAGE_SPLIT_WORK: usize = 1 << 22;

/// [`IMAGE_SPLIT_WORK`], or `ZENRT_CONV_IMAGE_SPLIT_WORK` (for comparisons).
fn image_split_work() -> usize {
    static V: crate::tuning::EnvNum = crate::tuning::EnvNum::new("ZENRT_CONV_IMAGE_SPLIT_WORK");
    V.or(IMAGE_SPLIT_WORK)
}

/// `act(conv(x, w) + b)` in f32, NCHW. `x`: `[N, C, ...]`, `w`: `[M, C/group, k...]`, `b`: `[M]`.
pub fn conv_f32(x: &[f32], w: ConvWeights, b: Option<&[f32]>, cs: &ConvShape, act: Activation) -> Result<Vec<f32>> {
    conv_res_f32(x, w, b, None, cs, act)
}

/// `act(conv(x, w) + b + z)` in f32, NCHW, with `z` (the residual, shaped like the output) added
/// before the activation: in the pointwise kernel's registers, as the GEMM's `beta·C` term (the
/// output starts as a copy of `z`), or in one pass after the other kernels.
pub fn conv_res_f32(
    x: &[f32],
    w: ConvWeights,
    b: Option<&[f32]>,
    z: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
) -> Result<Vec<f32>> {
    let out_shape = cs.out_shape();
    let total = checked_numel(&out_shape, DType::F32, "Conv output")?;
    let (g, cg, mg) = (cs.group, cs.c / cs.group, cs.m / cs.group);
    let in_size: usize = cs.in_sp.iter().product();
    let out_size: usize = cs.geo.out.iter().product();
    let ksize = cs.geo.kernel_size();
    let kdim = cg * ksize;
    ensure!(x.len() == cs.n * cs.c * in_size, "Conv: input data length mismatch");
    let raw = match w {
        ConvWeights::Raw(r) => Some(r),
        ConvWeights::Packed(p, r) => {
            ensure!(
                p.group == g && p.shape[0] == cs.m && p.shape[1..].iter().product::<usize>() == kdim,
                "Conv: packed weights were made for another conv"
            );
            r
        }
    };
    ensure!(raw.is_none_or(|r| r.len() == cs.m * kdim), "Conv: weight data length mismatch");
    if let Some(b) = b {
        ensure!(b.len() == cs.m, "Conv: bias has {} values, expected {}", b.len(), cs.m);
    }
    ensure!(
        z.is_none_or(|z| z.len() == total),
        "Conv: residual has {} values, expected {total}",
        z.map_or(0, <[f32]>::len)
    );
    let mut y = crate::memory::alloc_for_overwrite::<f32>(total);
    if total == 0 {
        return Ok(y);
    }
    // Kernels without a residual input run without the activation, then `add_residual` applies
    // both.
    let kact = if z.is_some() { Activation::None } else { act };
    let geo = &cs.geo;
    let sp = cs.in_sp.len();
    if cg == 1 && sp == 2 {
        if let ConvWeights::Raw(w) = w {
            depthwise::depthwise_f32(x, w, b, cs, kact, &mut y);
            return Ok(add_residual(y, z, act));
        }
    }
    if let Some(raw) = raw {
        if few_channels::few_channels_f32(x, raw, b, cs, kact, &mut y) {
            return Ok(add_residual(y, z, act));
        }
    }
    // Strided 1×1 convs without padding (ResNet's downsample): the batch's subsampled planes
    // gathered once, then the stride-1 1×1 conv of those (every 1×1 path applies: in place,
    // transposed for small images, one GEMM over the batch of 7×7 images).
    if GATHER_1X1.on()
        && sp == 2
        && geo.kernel.iter().all(|&k| k == 1)
        && geo.strides.iter().any(|&s| s != 1)
        && geo.pads_begin.iter().chain(&geo.pads_end).all(|&p| p == 0)
    {
        let per = cs.c * out_size;
        let mut xs = crate::memory::alloc_for_overwrite::<f32>(cs.n * per);
        for (xn, dn) in x.chunks_exact(cs.c * in_size).zip(xs.chunks_exact_mut(per)) {
            subsample(xn, cs.c, &cs.in_sp, geo, dn);
        }
        let mut one = cs.clone();
        one.in_sp = geo.out.clone();
        one.geo.strides = vec![1; sp];
        one.geo.dilations = vec![1; sp];
        let y = conv_res_f32(&xs, w, b, z, &one, act);
        crate::memory::recycle(xs);
        return y;
    }
    if pointwise::chosen(cs) {
        let owned;
        let wp = match w {
            ConvWeights::Packed(p, raw) => p.pointwise_for(raw)?,
            ConvWeights::Raw(r) => {
                owned = pointwise::pack(r, kdim);
                &owned
            }
        };
        if pointwise::pointwise_f32(x, wp, b, z, cs, act, &mut y) {
            return Ok(y);
        }
    }
    if let ConvWeights::Packed(p, raw) = w {
        if let Some(wt) = p.winograd_for(cs, raw)? {
            winograd::winograd_f32(x, wt, b, cs, kact, &mut y)?;
            return Ok(add_residual(y, z, act));
        }
    }
    if direct_s2::chosen(cs) {
        let owned;
        let wp = match w {
            ConvWeights::Packed(p, raw) => p.s2_for(raw)?,
            ConvWeights::Raw(r) => {
                owned = direct_s2::pack(r, cs.m, cs.c);
                &owned
            }
        };
        direct_s2::conv_f32(x, wp, b, cs, kact, &mut y);
        return Ok(add_residual(y, z, act));
    }
    if transposed::chosen(cs) {
        let (kern, wsrc);
        let wt = match w {
            ConvWeights::Packed(p, raw) => {
                kern = p.kern;
                Operand::Packed(p.trans_for(raw)?)
            }
            ConvWeights::Raw(r) => {
                kern = kernels::best();
                wsrc = Strided::new(r, kdim, cs.m, 1, kdim)?;
                Operand::Src(&wsrc)
            }
        };
        transposed::conv_f32(kern, wt, x, b, z, cs, act, &mut y)?;
        return Ok(y);
    }
    let packed = match w {
        ConvWeights::Packed(p, raw) => Some((p.kern, p.packed_groups(raw)?)),
        ConvWeights::Raw(_) => None,
    };
    let kern = packed.map_or_else(kernels::best, |p| p.0);
    let pointwise = geo.kernel.iter().all(|&k| k == 1)
        && geo.strides.iter().all(|&s| s == 1)
        && geo.pads_begin.iter().chain(&geo.pads_end).all(|&p| p == 0);
    let col_len =
        if pointwise || sp == 2 { 0 } else { checked_numel(&[kdim, out_size], DType::F32, "Conv im2col buffer")? };
    if pointwise && pointwise::batched(cs) {
        let wsrc;
        let a = match (w, packed) {
            (ConvWeights::Packed(..), Some((_, groups))) if groups.len() == 1 => Operand::Packed(&groups[0]),
            (ConvWeights::Raw(w), _) => {
                wsrc = Strided::new(w, kdim, cs.m, 1, kdim)?;
                Operand::Src(&wsrc)
            }
            _ => bail!("internal: conv weights not packed"),
        };
        pointwise::batched_f32(kern, a, x, b, z, cs, act, &mut y)?;
        return Ok(y);
    }
    // 1×1 kernels read the NCHW input where it lies (kernels with a direct form: B needs no
    // packing).
    let direct = kern.direct.is_some() && DIRECT_B.on();
    let per_image = cs.m * out_size;
    // One image: its GEMM per group (each may split over the pool unless this runs in a task).
    // The residual enters the GEMM's tile epilogue, read as the tiles are written.
    let image = |n: usize, yn: &mut [f32]| -> Result<()> {
        let mut col = vec![0f32; col_len];
        for gi in 0..g {
            let xg = &x[(n * cs.c + gi * cg) * in_size..][..cg * in_size];
            let yg = &mut yn[gi * mg * out_size..][..mg * out_size];
            let zg = z.map(|z| &z[n * per_image + gi * mg * out_size..][..mg * out_size]);
            let strided;
            let implicit;
            let planes;
            let rows;
            let bop: Operand = if direct && pointwise {
                rows = Rows::new(xg, cg, in_size, in_size)?;
                Operand::Rows(rows)
            } else if pointwise {
                planes = pointwise::Planes::new(xg, cg, in_size);
                match &planes {
                    Some(pl) => Operand::Src(pl),
                    None => bail!("Conv: input data length mismatch"),
                }
            } else if sp == 2 {
                implicit = Im2col2d::new(xg, cg, &cs.in_sp, geo);
                Operand::Src(&implicit)
            } else {
                im2col(xg, cg, &cs.in_sp, geo, &mut col);
                strided = Strided::new(&col, kdim, out_size, out_size, 1)?;
                Operand::Src(&strided)
            };
            let wsrc;
            let a = match w {
                ConvWeights::Packed(..) => match packed {
                    Some((_, groups)) => Operand::Packed(&groups[gi]),
                    None => bail!("internal: conv weights not packed"),
                },
                ConvWeights::Raw(w) => {
                    wsrc = Strided::new(&w[gi * mg * kdim..(gi + 1) * mg * kdim], kdim, mg, 1, kdim)?;
                    Operand::Src(&wsrc)
                }
            };
            let bias = match b {
                Some(b) => Bias::PerRow(&b[gi * mg..(gi + 1) * mg]),
                None => Bias::None,
            };
            sgemm(kern, 1.0, a, bop, 0.0, yg, out_size, 1, &Epilogue { bias, act, residual: zg })?;
        }
        Ok(())
    };
    let image_work = per_image.saturating_mul(kdim);
    // Images over the threads when each image's GEMMs are too small to split well themselves
    // (keras_cnn at batch 8), or when the batch divides evenly over the threads: each thread then
    // keeps the same images op after op (the pool's ranges are contiguous), so its activations
    // stay in its core's caches instead of crossing to the other core (2 threads, batch 8:
    // efficientnet_b0 -4%, mobilenet_v2 -3%, resnet50 -1% with the vCPUs near each other;
    // `ZENRT_CONV_IMAGE_SPLIT_EVEN=0` turns it off). Otherwise image by image.
    let threads = crate::threads::current();
    let even = IMAGE_SPLIT_EVEN.on() && cs.n.is_multiple_of(threads);
    if threads > 1
        && cs.n > 1
        && (image_work < image_split_work() || even)
        && image_work.saturating_mul(cs.n) >= 1 << 18
    {
        crate::threads::try_for_each_chunk(&mut y[..cs.n * per_image], per_image, image)?;
    } else {
        for (n, yn) in y.chunks_mut(per_image).enumerate() {
            image(n, yn)?;
        }
    }
    Ok(y)
}

/// Whether batches that divide evenly over the threads split their GEMM-path convs by image
/// ([`conv_res_f32`]): `ZENRT_CONV_IMAGE_SPLIT_EVEN=0` turns it off.
pub(crate) static IMAGE_SPLIT_EVEN: crate::tuning::Switch =
    crate::tuning::Switch::new("ZENRT_CONV_IMAGE_SPLIT_EVEN", true);

/// Whether 1×1 convs read their input where it lies (kernels with a direct form):
/// `ZENRT_POINTWISE_DIRECT_B=0` packs it as before (for comparisons).
pub(crate) static DIRECT_B: crate::tuning::Switch = crate::tuning::Switch::new("ZENRT_POINTWISE_DIRECT_B", true);

/// Whether strided 1×1 convs without padding gather their subsampled input first and run as
/// stride-1 1×1 convs: `ZENRT_CONV_GATHER_1X1=0` leaves them to the implicit im2col and the
/// transposed GEMM (for comparisons).
pub(crate) static GATHER_1X1: crate::tuning::Switch = crate::tuning::Switch::new("ZENRT_CONV_GATHER_1X1", true);

/// `dst[c, oh, ow] = x[c, oh·sh, ow·sw]` for one image of a 2-D 1×1 conv without padding
/// (`dst`: `c × out` values).
fn subsample(x: &[f32], c: usize, in_sp: &[usize], geo: &super::common::Geometry, dst: &mut [f32]) {
    let (h, w) = (in_sp[0], in_sp[1]);
    let (oh, ow) = (geo.out[0], geo.out[1]);
    let (sh, sw) = (geo.strides[0], geo.strides[1]);
    for ci in 0..c {
        let plane = &x[ci * h * w..][..h * w];
        for r in 0..oh {
            let d = &mut dst[(ci * oh + r) * ow..][..ow];
            let src = &plane[r * sh * w..][..(ow - 1) * sw + 1];
            im2col2d::strided_copy(d, src, sw);
        }
    }
}

/// `act(y + z)` in place (when there is a residual `z`; the kernel ran without `act` then), split
/// over the pool's threads when large.
fn add_residual(mut y: Vec<f32>, z: Option<&[f32]>, act: Activation) -> Vec<f32> {
    if let Some(z) = z {
        let f = act.simd_f32();
        crate::simd::par::for_chunks(&mut y, 16, |s, c| {
            crate::simd::binary_inplace(crate::simd::BinFn::Add, c, &z[s..s + c.len()]);
            if let Some(f) = f {
                crate::simd::map_inplace(f, c);
            }
        });
    }
    y
}

#[cfg(test)]
mod tests;
