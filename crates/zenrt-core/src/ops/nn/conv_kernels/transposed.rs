//! Group-1 2-D convolutions of small images as the transposed GEMM (session 9, AVX-512):
//! `Sᵀ[P, M] = Xᵀ[P, K] · Wᵀ[K, M]` — output pixels as the kernel's 12 broadcast rows and
//! output channels as its 32 vector columns — then `S` written transposed into the NCHW output.
//!
//! At 7×7 (ResNet-50's last stage) the usual `W[M, K] · X[K, P]` fills 49 of the 64 columns of its
//! two 32-wide panels (77%); 49 pixels as rows take 4 panels of 12 and one of 4 rows (the kernel's
//! edge tile multiplies only 4 of them: 94%), and the output channels (a multiple of 32 in the
//! CNNs measured) fill every vector. The weights are packed once as the GEMM's right operand
//! ([`pack`]); the activations are packed per call as its left one, straight from the image (an
//! implicit im2col, [`Im2col2d`], or for 1×1 convolutions the planes of the whole batch as one
//! operand, [`BatchPlanes`]). Bias and Relu/Clip (or any activation, without a residual) run in
//! the GEMM's epilogue; the residual is added, and then the activation applied, while `S` is
//! written out.

use super::im2col2d::Im2col2d;
use super::pointwise::BatchPlanes;
use super::ConvShape;
use crate::ops::fused::Activation;
use crate::ops::gemm::{kernels, sgemm, Bias, Epilogue, Kernel, Operand, PackedMat, Strided};
use crate::{bail, ensure, Result};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Output images of at most this many pixels take the transposed GEMM by default (7×7: measured
/// per layer and on resnet50, docs/kernels.md "Convolution: session 9").
pub const MAX_PIXELS: usize = 7 * 7;

/// `usize::MAX` until read from `ZENRT_CONV_TRANSPOSED_PIXELS` (0: off); tests set it directly.
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Largest output image (pixels) that takes the transposed GEMM.
pub fn max_pixels() -> usize {
    match LIMIT.load(Relaxed) {
        usize::MAX => {
            let v =
                std::env::var("ZENRT_CONV_TRANSPOSED_PIXELS").ok().and_then(|v| v.parse().ok()).unwrap_or(MAX_PIXELS);
            LIMIT.store(v.min(usize::MAX - 1), Relaxed);
            v
        }
        v => v,
    }
}

/// Sets [`max_pixels`] (tests and timings).
#[cfg(test)]
pub fn set_max_pixels(v: usize) {
    LIMIT.store(v, Relaxed);
}

/// Whether the transposed GEMM is chosen for `cs` (group 1, 2-D, at most [`max_pixels`] output
/// pixels per image; the GEMM's kernel 32 columns wide, AVX-512 — with the AVX2 kernel's 16-wide
/// panels the usual orientation wastes less and this was not measured). Depends on one image's
/// shape only, so the plan's choice holds for every batch.
pub fn chosen(cs: &ConvShape) -> bool {
    let p: usize = cs.geo.out.iter().product();
    cs.group == 1 && cs.in_sp.len() == 2 && p > 0 && p <= max_pixels() && kernels::best().nr >= 32
}

/// `W[M, K]` (row-major, `K = C·kh·kw`) packed as the GEMM's right operand `Wᵀ[K, M]`.
pub fn pack(w: &[f32], m: usize, kdim: usize, kern: &'static Kernel) -> Result<PackedMat> {
    ensure!(w.len() == m * kdim, "Conv: weight data length mismatch");
    PackedMat::new(&Strided::new(w, kdim, m, 1, kdim)?, kern, false)
}

/// `act(conv(x, w) + b + z)` into `y` (`[N, M, P]`) by the transposed GEMM; `wt`: the weights as
/// the right operand (from [`pack`], or a strided view of the raw `[M, K]` weights).
#[allow(clippy::too_many_arguments)]
pub fn conv_f32(
    kern: &'static Kernel,
    wt: Operand,
    x: &[f32],
    b: Option<&[f32]>,
    z: Option<&[f32]>,
    cs: &ConvShape,
    act: Activation,
    y: &mut [f32],
) -> Result<()> {
    let (n, c, m) = (cs.n, cs.c, cs.m);
    let in_size: usize = cs.in_sp.iter().product();
    let p: usize = cs.geo.out.iter().product();
    ensure!(y.len() == n * m * p && x.len() >= n * c * in_size, "Conv: buffer length mismatch");
    ensure!(z.is_none_or(|z| z.len() == y.len()), "Conv: residual length mismatch");
    let g = &cs.geo;
    let pointwise = g.kernel.iter().all(|&k| k == 1)
        && g.strides.iter().all(|&s| s == 1)
        && g.pads_begin.iter().chain(&g.pads_end).all(|&p| p == 0);
    let bias = b.map_or(Bias::None, Bias::PerCol);
    let ep = Epilogue { bias, act: if z.is_some() { Activation::None } else { act }, residual: None };
    // Without a residual the epilogue applied everything; with one, `scatter` adds it and then
    // applies the activation.
    let post = z.map(|z| (z, act));
    if pointwise {
        // 1×1: the batch's pixels as the rows of one product.
        let Some(src) = BatchPlanes::new(x, n, c, p) else { bail!("Conv: input data length mismatch") };
        let mut s = crate::memory::alloc_for_overwrite::<f32>(n * p * m);
        // Over several threads, the pixels are packed once (split over the threads) and shared:
        // the tasks then split the output channels (the weights) instead of each packing the rows
        // it multiplies again for every column range.
        if crate::threads::current() > 1 && PREPACK.on() {
            let pa = PackedMat::new(&src, kern, true)?;
            sgemm(kern, 1.0, Operand::Packed(&pa), wt, 0.0, &mut s, m, 1, &ep)?;
            // Its buffer came from the run's pool: give it back (a fresh one per call is page
            // faults on every run).
            crate::memory::recycle(pa.into_buffer());
        } else {
            sgemm(kern, 1.0, Operand::Src(&src), wt, 0.0, &mut s, m, 1, &ep)?;
        }
        scatter(&s, p, m, post, y);
        crate::memory::recycle(s);
    } else {
        let mut s = crate::memory::alloc_for_overwrite::<f32>(p * m);
        for img in 0..n {
            let src = Im2col2d::new(&x[img * c * in_size..][..c * in_size], c, &cs.in_sp, g);
            sgemm(kern, 1.0, Operand::Src(&src), wt, 0.0, &mut s, m, 1, &ep)?;
            let zi = post.map(|(z, a)| (&z[img * m * p..][..m * p], a));
            scatter(&s, p, m, zi, &mut y[img * m * p..][..m * p]);
        }
        crate::memory::recycle(s);
    }
    Ok(())
}

/// Whether 1×1 transposed convs over several threads pack the pixels once ahead of the product
/// (`ZENRT_CONV_TRANSPOSED_PREPACK=0`: each task packs its rows).
static PREPACK: crate::tuning::Switch = crate::tuning::Switch::new("ZENRT_CONV_TRANSPOSED_PREPACK", true);

/// `S[N·P, M]` (image-major rows of pixels) into `y` `[N, M, P]`, then (with a residual `z`,
/// laid out like `y`) `y = act(y + z)`; output rows split over the pool's threads.
fn scatter(s: &[f32], p: usize, m: usize, post: Option<(&[f32], Activation)>, y: &mut [f32]) {
    let f = post.and_then(|(_, a)| a.simd_f32());
    crate::simd::par::for_chunks(y, p, |start, part| {
        let row0 = start / p;
        let rows = part.len() / p;
        // Blocks of up to 16 consecutive output channels of one image: per pixel, one contiguous
        // run of `S` into 16 planes.
        let mut r = 0;
        while r < rows {
            let (img, mo) = ((row0 + r) / m, (row0 + r) % m);
            let cnt = 16.min(m - mo).min(rows - r);
            let blk = &mut part[r * p..(r + cnt) * p];
            for px in 0..p {
                let src = &s[(img * p + px) * m + mo..][..cnt];
                for (j, &v) in src.iter().enumerate() {
                    blk[j * p + px] = v;
                }
            }
            if let Some((z, _)) = post {
                let at = start + r * p;
                crate::simd::binary_inplace(crate::simd::BinFn::Add, blk, &z[at..at + cnt * p]);
                if let Some(f) = f {
                    crate::simd::map_inplace(f, blk);
                }
            }
            r += cnt;
        }
    });
}
