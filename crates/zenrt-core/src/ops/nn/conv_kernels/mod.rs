//! The f32 convolution fast path (used by Conv and `com.zenrt.FusedConv`; f64 and
//! f16/bf16 keep the reference path of `conv.rs`, f16/bf16 computing in f32 through here).
//!
//! - 1×1, stride 1, no padding: a direct GEMM on the input (`W[M, C] · X[C, HW]`), no im2col.
//! - other 2-D convolutions: GEMM whose B panels are packed straight from the image
//!   ([`Im2col2d`], an implicit im2col: no `[C·kh·kw, HW]` buffer).
//! - 1-D/3-D convolutions: explicit im2col + GEMM.
//! - depthwise 2-D (one input channel per group): direct sliding-window kernel, parallel over
//!   channel planes.
//!
//! Bias and the activation are applied in the GEMM epilogue. Weights can be packed once at
//! plan time ([`PackedConvWeights`]).

mod depthwise;
mod im2col2d;
mod padded;
pub mod winograd;

use super::conv::{im2col, ConvShape};
use crate::ops::fused::Activation;
use crate::ops::gemm::{kernels, sgemm, Bias, Epilogue, Kernel, Operand, PackedMat, Strided};
use crate::{checked_numel, ensure, DType, Result};
use im2col2d::Im2col2d;
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
        use rayon::prelude::*;
        a.par_chunks_mut(ca).zip(b.par_chunks_mut(cb)).enumerate().for_each(|(i, (x, y))| f(i, x, y));
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

/// Conv weights `[M, C/group, k...]` packed per group as the GEMM's left operand.
#[derive(Debug)]
pub struct PackedConvWeights {
    pub shape: Vec<usize>,
    pub group: usize,
    kern: &'static Kernel,
    groups: Vec<PackedMat>,
    /// Winograd-transformed weights (3×3, group 1, stride 1, dilation 1; see [`Self::add_winograd`]).
    wino: Option<WinogradWeights>,
    /// The raw weights of group-1 2-D convolutions with few input channels (for
    /// [`depthwise::few_channels_f32`]).
    raw: Option<Vec<f32>>,
}

impl PackedConvWeights {
    /// Packs `w` (shape `shape`) for `group` groups; `None` when the layout does not apply
    /// (depthwise convolutions use the direct kernel and need no packing).
    pub fn new(w: &[f32], shape: &[usize], group: usize) -> Result<Option<PackedConvWeights>> {
        if shape.len() < 3 || group == 0 || !shape[0].is_multiple_of(group) || shape[1] == 1 && shape.len() == 4 {
            return Ok(None);
        }
        let (m, cg) = (shape[0], shape[1]);
        let kdim = cg * shape[2..].iter().product::<usize>();
        ensure!(w.len() == m * kdim, "Conv: weight data length mismatch");
        let mg = m / group;
        let kern = kernels::best();
        let mut groups = Vec::with_capacity(group);
        for g in 0..group {
            let wg = &w[g * mg * kdim..(g + 1) * mg * kdim];
            groups.push(PackedMat::new(&Strided::new(wg, kdim, mg, 1, kdim)?, kern, true)?);
        }
        let raw = (group == 1 && shape.len() == 4 && cg <= depthwise::FEW_CHANNELS).then(|| w.to_vec());
        Ok(Some(PackedConvWeights { shape: shape.to_vec(), group, kern, groups, wino: None, raw }))
    }

    /// Also transforms 3×3 group-1 weights for Winograd (the caller checked stride 1 and
    /// dilation 1); skipped when `ZENRT_WINOGRAD=off`.
    pub fn add_winograd(&mut self, w: &[f32]) -> Result<()> {
        if self.group == 1 && self.shape.len() == 4 && self.shape[2..] == [3, 3] {
            if let Some(tile) = winograd_tile() {
                self.wino = Some(WinogradWeights::new(w, self.shape[0], self.shape[1], tile, self.kern)?);
            }
        }
        Ok(())
    }
}

/// The weights of one call: raw or pre-packed.
#[derive(Clone, Copy)]
pub enum ConvWeights<'a> {
    Raw(&'a [f32]),
    Packed(&'a PackedConvWeights),
}

/// `act(conv(x, w) + b)` in f32, NCHW. `x`: `[N, C, ...]`, `w`: `[M, C/group, k...]`, `b`: `[M]`.
pub fn conv_f32(x: &[f32], w: ConvWeights, b: Option<&[f32]>, cs: &ConvShape, act: Activation) -> Result<Vec<f32>> {
    let out_shape = cs.out_shape();
    let total = checked_numel(&out_shape, DType::F32, "Conv output")?;
    let (g, cg, mg) = (cs.group, cs.c / cs.group, cs.m / cs.group);
    let in_size: usize = cs.in_sp.iter().product();
    let out_size: usize = cs.geo.out.iter().product();
    let ksize = cs.geo.kernel_size();
    let kdim = cg * ksize;
    ensure!(x.len() == cs.n * cs.c * in_size, "Conv: input data length mismatch");
    if let ConvWeights::Raw(w) = w {
        ensure!(w.len() == cs.m * kdim, "Conv: weight data length mismatch");
    }
    if let Some(b) = b {
        ensure!(b.len() == cs.m, "Conv: bias has {} values, expected {}", b.len(), cs.m);
    }
    let mut y = crate::memory::alloc_for_overwrite::<f32>(total);
    if total == 0 {
        return Ok(y);
    }
    let geo = &cs.geo;
    let sp = cs.in_sp.len();
    if cg == 1 && sp == 2 {
        if let ConvWeights::Raw(w) = w {
            depthwise::depthwise_f32(x, w, b, cs, act, &mut y);
            return Ok(y);
        }
    }
    if sp == 2 && g == 1 && cg <= depthwise::FEW_CHANNELS {
        let raw = match w {
            ConvWeights::Raw(w) => Some(w),
            ConvWeights::Packed(p) => p.raw.as_deref(),
        };
        if raw.is_some_and(|w| depthwise::few_channels_f32(x, w, b, cs, act, &mut y)) {
            return Ok(y);
        }
    }
    if let ConvWeights::Packed(PackedConvWeights { wino: Some(wt), .. }) = w {
        if winograd::applies(cs) && winograd::pays(cs, wt.tile) {
            winograd::winograd_f32(x, wt, b, cs, act, &mut y)?;
            return Ok(y);
        }
    }
    let kern = match w {
        ConvWeights::Packed(p) => {
            ensure!(p.group == g && p.groups.len() == g, "Conv: packed weights were made for another group count");
            p.kern
        }
        ConvWeights::Raw(_) => kernels::best(),
    };
    let pointwise = geo.kernel.iter().all(|&k| k == 1)
        && geo.strides.iter().all(|&s| s == 1)
        && geo.pads_begin.iter().chain(&geo.pads_end).all(|&p| p == 0);
    let mut col = if pointwise || sp == 2 {
        vec![]
    } else {
        vec![0f32; checked_numel(&[kdim, out_size], DType::F32, "Conv im2col buffer")?]
    };
    for n in 0..cs.n {
        for gi in 0..g {
            let xg = &x[(n * cs.c + gi * cg) * in_size..][..cg * in_size];
            let yg = &mut y[(n * cs.m + gi * mg) * out_size..][..mg * out_size];
            let strided;
            let implicit;
            let bsrc: &dyn crate::ops::gemm::PackSrc = if pointwise {
                strided = Strided::new(xg, cg, out_size, in_size, 1)?;
                &strided
            } else if sp == 2 {
                implicit = Im2col2d::new(xg, cg, &cs.in_sp, geo);
                &implicit
            } else {
                im2col(xg, cg, &cs.in_sp, geo, &mut col);
                strided = Strided::new(&col, kdim, out_size, out_size, 1)?;
                &strided
            };
            let wsrc;
            let a = match w {
                ConvWeights::Packed(p) => Operand::Packed(&p.groups[gi]),
                ConvWeights::Raw(w) => {
                    wsrc = Strided::new(&w[gi * mg * kdim..(gi + 1) * mg * kdim], kdim, mg, 1, kdim)?;
                    Operand::Src(&wsrc)
                }
            };
            let bias = match b {
                Some(b) => Bias::PerRow(&b[gi * mg..(gi + 1) * mg]),
                None => Bias::None,
            };
            sgemm(kern, 1.0, a, Operand::Src(bsrc), 0.0, yg, out_size, 1, &Epilogue { bias, act })?;
        }
    }
    Ok(y)
}

#[cfg(test)]
mod tests;
