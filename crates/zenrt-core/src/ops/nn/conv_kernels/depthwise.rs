//! Direct 2-D depthwise convolution (one input channel per group), parallel over
//! `(image, channel)` planes; rows are accumulated tap by tap so the inner loop is a
//! contiguous multiply-add over the output width (vectorised for AVX2/AVX-512 when available).

use super::super::conv::depthwise_plane;
use super::ConvShape;
use crate::ops::fused::Activation;

/// One output plane: `dst = bias + Σ taps`, then the activation.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn plane(src: &[f32], h: usize, w: usize, wk: &[f32], cs: &ConvShape, bias: f32, act: Activation, dst: &mut [f32]) {
    dst.fill(bias);
    depthwise_plane(src, h, w, wk, &cs.geo, dst);
    act.apply_f32(dst);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn plane_avx2(
    src: &[f32],
    h: usize,
    w: usize,
    wk: &[f32],
    cs: &ConvShape,
    bias: f32,
    act: Activation,
    dst: &mut [f32],
) {
    plane(src, h, w, wk, cs, bias, act, dst)
}

/// All planes of the depthwise convolution into `y` (`[N, M, OH, OW]`).
pub fn depthwise_f32(x: &[f32], w: &[f32], b: Option<&[f32]>, cs: &ConvShape, act: Activation, y: &mut [f32]) {
    let in_size: usize = cs.in_sp.iter().product();
    let out_size: usize = cs.geo.out.iter().product();
    let ksize = cs.geo.kernel_size();
    let mg = cs.m / cs.group;
    #[cfg(target_arch = "x86_64")]
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    let one = |i: usize, dst: &mut [f32]| {
        let (n, mo) = (i / cs.m, i % cs.m);
        let ci = mo / mg;
        let src = &x[(n * cs.c + ci) * in_size..][..in_size];
        let wk = &w[mo * ksize..(mo + 1) * ksize];
        let bias = b.map_or(0.0, |b| b[mo]);
        let (h, wd) = (cs.in_sp[0], cs.in_sp[1]);
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            unsafe { plane_avx2(src, h, wd, wk, cs, bias, act, dst) };
            return;
        }
        plane(src, h, wd, wk, cs, bias, act, dst)
    };
    if crate::threads::current() > 1 {
        use rayon::prelude::*;
        y.par_chunks_mut(out_size).take(cs.n * cs.m).enumerate().for_each(|(i, d)| one(i, d));
    } else {
        y.chunks_mut(out_size).take(cs.n * cs.m).enumerate().for_each(|(i, d)| one(i, d));
    }
}
