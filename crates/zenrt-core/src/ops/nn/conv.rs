//! Conv: N-D convolution (groups, dilations, strides, pads, auto_pad, optional bias).
//! f32 (and f16/bf16, computed in f32 and rounded at the end) runs on the fast path of
//! [`super::conv_kernels`] (GEMM with fused bias/activation, weights pre-packed at plan time);
//! f64 runs as im2col + GEMM, with a direct loop for 2-D depthwise convolutions (the reference).

use super::common::{compute_dtype, gemm, unravel, valid_range, walk_lines, GemmElem, Geometry, Window};
use super::conv_kernels::{conv_res_f32, ConvWeights, PackedConvWeights};
use crate::ops::fused::Activation;
use crate::ops::{input, opt_input, BuildCtx, ExecCtx, InferInput, Op};
use crate::{checked_numel, ensure, DType, Dim, Error, Result, Tensor, ValueInfo};
use std::sync::Arc;

#[derive(Debug)]
pub struct Conv {
    pub win: Window,
    pub group: usize,
}

pub fn build(cx: &BuildCtx) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(Conv { win: Window::parse(cx, false)?, group: parse_group(cx)? }))
}

pub fn parse_group(cx: &BuildCtx) -> Result<usize> {
    let g = cx.int("group", 1)?;
    if g < 1 {
        return Err(Error::Attr { attr: "group".into(), msg: format!("must be >= 1, got {g}") });
    }
    Ok(g as usize)
}

/// Validated shapes of a convolution: batch, channels, spatial dims, geometry.
#[derive(Debug, Clone)]
pub struct ConvShape {
    pub n: usize,
    pub c: usize,
    pub m: usize,
    pub group: usize,
    pub in_sp: Vec<usize>,
    pub geo: Geometry,
}

impl ConvShape {
    pub fn new(xs: &[usize], ws: &[usize], win: &Window, group: usize) -> Result<ConvShape> {
        ensure!(xs.len() >= 3, "Conv: input must be [N, C, D1, ...], got shape {xs:?}");
        ensure!(ws.len() == xs.len(), "Conv: weight shape {ws:?} does not match input shape {xs:?}");
        let (n, c, m) = (xs[0], xs[1], ws[0]);
        ensure!(
            ws[1] * group == c,
            "Conv: input has {c} channels but weight {ws:?} with group {group} expects {}",
            ws[1] * group
        );
        ensure!(m % group == 0, "Conv: {m} output channels are not divisible by group {group}");
        let geo = win.resolve(&xs[2..], Some(&ws[2..]))?;
        ensure!(geo.kernel == ws[2..], "Conv: kernel_shape {:?} differs from the weight's {:?}", geo.kernel, &ws[2..]);
        Ok(ConvShape { n, c, m, group, in_sp: xs[2..].to_vec(), geo })
    }

    pub fn out_shape(&self) -> Vec<usize> {
        let mut s = vec![self.n, self.m];
        s.extend(&self.geo.out);
        s
    }
}

/// Lays out the patches of one group image `x` (`cg` channels of `in_sp`) as a
/// `[cg * kernel_size, out_size]` matrix.
pub fn im2col<T: GemmElem>(x: &[T], cg: usize, in_sp: &[usize], geo: &Geometry, col: &mut [T]) {
    let ksize = geo.kernel_size();
    let in_size: usize = in_sp.iter().product();
    let out_size: usize = geo.out.iter().product();
    let out_last = *geo.out.last().unwrap_or(&1);
    let mut kidx = vec![0usize; geo.kernel.len()];
    for c in 0..cg {
        let xc = &x[c * in_size..(c + 1) * in_size];
        for kf in 0..ksize {
            unravel(kf, &geo.kernel, &mut kidx);
            let row = &mut col[(c * ksize + kf) * out_size..(c * ksize + kf + 1) * out_size];
            walk_lines(&geo.out, in_sp, geo, &kidx, |start, seg| {
                let dst = &mut row[start..start + out_last];
                match seg {
                    None => dst.fill(T::zero()),
                    Some(s) => {
                        dst[..s.lo].fill(T::zero());
                        dst[s.hi..].fill(T::zero());
                        if s.step == 1 {
                            dst[s.lo..s.hi].copy_from_slice(&xc[s.first..s.first + (s.hi - s.lo)]);
                        } else {
                            for (j, d) in dst[s.lo..s.hi].iter_mut().enumerate() {
                                *d = xc[s.first + j * s.step];
                            }
                        }
                    }
                }
            });
        }
    }
}

/// Direct 2-D depthwise convolution of one channel plane into `dst` (already holding the bias).
/// Shared by the reference path and the f32 kernel (`conv_kernels::depthwise`), which inlines it
/// into its AVX2-compiled wrapper.
#[inline(always)]
pub(crate) fn depthwise_plane<T: GemmElem>(src: &[T], h: usize, w: usize, wk: &[T], geo: &Geometry, dst: &mut [T]) {
    let (kh, kw) = (geo.kernel[0], geo.kernel[1]);
    let (oh, ow) = (geo.out[0], geo.out[1]);
    let (sh, sw) = (geo.strides[0], geo.strides[1]);
    for a in 0..kh {
        let offh = (a * geo.dilations[0]) as i64 - geo.pads_begin[0];
        let (h_lo, h_hi) = valid_range(oh, sh, offh, h);
        for b in 0..kw {
            let wv = wk[a * kw + b];
            let offw = (b * geo.dilations[1]) as i64 - geo.pads_begin[1];
            let (w_lo, w_hi) = valid_range(ow, sw, offw, w);
            if w_lo >= w_hi {
                continue;
            }
            for y in h_lo..h_hi {
                let ih = (y as i64 * sh as i64 + offh) as usize;
                let first = (w_lo as i64 * sw as i64 + offw) as usize;
                let srow = &src[ih * w..(ih + 1) * w];
                let drow = &mut dst[y * ow + w_lo..y * ow + w_hi];
                if sw == 1 {
                    for (d, &s) in drow.iter_mut().zip(&srow[first..first + (w_hi - w_lo)]) {
                        *d += wv * s;
                    }
                } else {
                    for (j, d) in drow.iter_mut().enumerate() {
                        *d += wv * srow[first + j * sw];
                    }
                }
            }
        }
    }
}

/// Convolution on typed buffers. `x`: `[N, C, ...]`, `w`: `[M, C/group, k...]`, `b`: `[M]`.
pub fn conv_typed<T: GemmElem>(x: &[T], w: &[T], b: Option<&[T]>, cs: &ConvShape) -> Result<Vec<T>> {
    let out_shape = cs.out_shape();
    let total = checked_numel(&out_shape, T::DTYPE, "Conv output")?;
    let (g, cg, mg) = (cs.group, cs.c / cs.group, cs.m / cs.group);
    let in_size: usize = cs.in_sp.iter().product();
    let out_size: usize = cs.geo.out.iter().product();
    let ksize = cs.geo.kernel_size();
    ensure!(x.len() == cs.n * cs.c * in_size, "Conv: input data length mismatch");
    ensure!(w.len() == cs.m * cg * ksize, "Conv: weight data length mismatch");
    if let Some(b) = b {
        ensure!(b.len() == cs.m, "Conv: bias has {} values, expected {}", b.len(), cs.m);
    }
    let mut y = crate::memory::alloc::<T>(total);
    if let Some(b) = b {
        for (i, plane) in y.chunks_mut(out_size.max(1)).enumerate().take(cs.n * cs.m) {
            plane.fill(b[i % cs.m]);
        }
    }
    if total == 0 {
        return Ok(y);
    }
    let geo = &cs.geo;
    let sp = cs.in_sp.len();
    // Depthwise 2-D: one input channel per group.
    if cg == 1 && sp == 2 {
        for n in 0..cs.n {
            for mo in 0..cs.m {
                let ci = mo / mg;
                let src = &x[(n * cs.c + ci) * in_size..][..in_size];
                let dst = &mut y[(n * cs.m + mo) * out_size..][..out_size];
                depthwise_plane(src, cs.in_sp[0], cs.in_sp[1], &w[mo * ksize..(mo + 1) * ksize], geo, dst);
            }
        }
        return Ok(y);
    }
    let pointwise = geo.kernel.iter().all(|&k| k == 1)
        && geo.strides.iter().all(|&s| s == 1)
        && geo.pads_begin.iter().chain(&geo.pads_end).all(|&p| p == 0);
    let kdim = cg * ksize;
    let mut col = if pointwise {
        vec![]
    } else {
        crate::memory::alloc_for_overwrite::<T>(checked_numel(&[kdim, out_size], T::DTYPE, "Conv im2col buffer")?)
    };
    let beta = if b.is_some() { T::one() } else { T::zero() };
    for n in 0..cs.n {
        for gi in 0..g {
            let xg = &x[(n * cs.c + gi * cg) * in_size..][..cg * in_size];
            let bmat: &[T] = if pointwise {
                xg
            } else {
                im2col(xg, cg, &cs.in_sp, geo, &mut col);
                &col
            };
            let wg = &w[gi * mg * kdim..(gi + 1) * mg * kdim];
            let yg = &mut y[(n * cs.m + gi * mg) * out_size..][..mg * out_size];
            gemm(mg, kdim, out_size, (wg, kdim, 1), (bmat, out_size, 1), beta, yg, out_size, 1)?;
        }
    }
    crate::memory::recycle(col);
    Ok(y)
}

/// Runs a float convolution for any float dtype (f16/bf16 via f32).
pub fn conv_tensor(x: &Tensor, w: &Tensor, b: Option<&Tensor>, win: &Window, group: usize) -> Result<Tensor> {
    conv_act_tensor(x, w, None, b, None, win, group, Activation::None)
}

/// Checks that the residual `z` of a conv with output shape `out` (FusedConv input 3) has the
/// input's dtype `dt` and exactly the output's shape.
pub fn check_residual(z: Option<&Tensor>, dt: DType, out: &[usize]) -> Result<()> {
    if let Some(z) = z {
        ensure!(z.dtype() == dt, "FusedConv: residual dtype {} differs from input dtype {dt}", z.dtype());
        ensure!(z.shape() == out, "FusedConv: residual shape {:?} differs from the output shape {out:?}", z.shape());
    }
    Ok(())
}

/// `act(conv(x, w) + b + z)` for any float dtype; `packed` (when given) holds `w` pre-packed; `z`
/// (a residual, FusedConv input 3) must have the output's shape.
#[allow(clippy::too_many_arguments)]
pub fn conv_act_tensor(
    x: &Tensor,
    w: &Tensor,
    packed: Option<&PackedConvWeights>,
    b: Option<&Tensor>,
    z: Option<&Tensor>,
    win: &Window,
    group: usize,
    act: Activation,
) -> Result<Tensor> {
    let dt = x.dtype();
    ensure!(w.dtype() == dt, "Conv: weight dtype {} differs from input dtype {dt}", w.dtype());
    if let Some(b) = b {
        ensure!(b.dtype() == dt, "Conv: bias dtype {} differs from input dtype {dt}", b.dtype());
    }
    let cs = ConvShape::new(x.shape(), w.shape(), win, group)?;
    check_residual(z, dt, &cs.out_shape())?;
    let ct = compute_dtype(dt)?;
    let out = if ct == DType::F64 {
        let b = b.map(|b| b.as_slice::<f64>()).transpose()?;
        let mut y = conv_typed::<f64>(x.as_slice()?, w.as_slice()?, b, &cs)?;
        if let Some(z) = z {
            y.iter_mut().zip(z.as_slice::<f64>()?).for_each(|(y, z)| *y += z);
        }
        act.apply(Tensor::from_vec(cs.out_shape(), y)?)?
    } else if dt == DType::F32 {
        let b = b.map(|b| b.as_slice::<f32>()).transpose()?;
        let z = z.map(|z| z.as_slice::<f32>()).transpose()?;
        let wts = match packed.filter(|p| p.shape == w.shape() && p.group == group) {
            Some(p) => ConvWeights::Packed(p, Some(w.as_slice()?)),
            None => ConvWeights::Raw(w.as_slice()?),
        };
        Tensor::from_vec(cs.out_shape(), conv_res_f32(x.as_slice()?, wts, b, z, &cs, act)?)?
    } else {
        let (xc, wc) = (x.cast(ct)?, w.cast(ct)?);
        let bc = b.map(|b| b.cast(ct)).transpose()?;
        let bs = bc.as_ref().map(|b| b.as_slice::<f32>()).transpose()?;
        let zc = z.map(|z| z.cast(ct)).transpose()?;
        let zs = zc.as_ref().map(|z| z.as_slice::<f32>()).transpose()?;
        let y = conv_res_f32(xc.as_slice()?, ConvWeights::Raw(wc.as_slice()?), bs, zs, &cs, act)?;
        Tensor::from_vec(cs.out_shape(), y)?.cast(dt)?
    };
    Ok(out)
}

/// Symbolic `[N, M, out...]` for conv-like ops.
pub fn infer_conv(win: &Window, inputs: &[InferInput], out_channels: Option<Dim>) -> Vec<ValueInfo> {
    let (Some(x), w) = (inputs.first().and_then(|i| i.info), inputs.get(1).and_then(|i| i.info)) else {
        return vec![];
    };
    let Some(xs) = &x.shape else {
        return vec![ValueInfo::new("", x.dtype, None)];
    };
    if xs.len() < 3 {
        return vec![ValueInfo::new("", x.dtype, None)];
    }
    let ws = w.and_then(|w| w.shape.clone());
    let m = out_channels.unwrap_or_else(|| ws.as_ref().and_then(|s| s.first().cloned()).unwrap_or(Dim::Unknown));
    let wsp = ws.as_ref().filter(|s| s.len() == xs.len()).map(|s| &s[2..]);
    let mut shape = vec![xs[0].clone(), m];
    shape.extend(win.infer_dims(&xs[2..], wsp));
    vec![ValueInfo::new("", x.dtype, Some(shape))]
}

impl Op for Conv {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Conv")?;
        let w = input(inputs, 1, "Conv")?;
        let b = opt_input(inputs, 2);
        Ok(vec![conv_tensor(x, w, b, &self.win, self.group)?])
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_conv(&self.win, inputs, None))
    }

    fn prepare(&self, consts: &[Option<&Tensor>]) -> Result<Option<Arc<dyn Op>>> {
        PackedConv::prepare(&self.win, self.group, Activation::None, consts, None)
    }

    fn prepare_shaped(&self, consts: &[Option<&Tensor>], inputs: &[Option<&ValueInfo>]) -> Result<Option<Arc<dyn Op>>> {
        PackedConv::prepare(&self.win, self.group, Activation::None, consts, inputs.first().copied().flatten())
    }
}

/// Conv or FusedConv whose f32 weights were packed at plan time (see [`Op::prepare`]).
#[derive(Debug)]
pub struct PackedConv {
    pub win: Window,
    pub group: usize,
    pub act: Activation,
    pub packed: PackedConvWeights,
}

impl PackedConv {
    /// The packed replacement of a convolution whose weight (input 1) is a constant f32 tensor.
    /// `x`: what is known statically of the input (its spatial dims decide between Winograd and
    /// im2col packing, see [`PackedConvWeights::plan`]).
    pub fn prepare(
        win: &Window,
        group: usize,
        act: Activation,
        consts: &[Option<&Tensor>],
        x: Option<&ValueInfo>,
    ) -> Result<Option<Arc<dyn Op>>> {
        let Some(w) = consts.get(1).copied().flatten().filter(|w| w.dtype() == DType::F32) else { return Ok(None) };
        let ones = |v: &Option<Vec<i64>>| v.as_ref().is_none_or(|v| v.iter().all(|&s| s == 1));
        let winograd_ok = ones(&win.strides) && ones(&win.dilations);
        // The conv at batch 1, when the input's channel and spatial dims are static.
        let one_image = x.and_then(|x| x.shape.as_ref()).and_then(|s| {
            let mut xs = vec![1];
            for d in s.get(1..)? {
                xs.push(if let Dim::Known(n) = d { *n } else { return None });
            }
            ConvShape::new(&xs, w.shape(), win, group).ok()
        });
        let packed = PackedConvWeights::plan(w.as_slice()?, w.shape(), group, winograd_ok, one_image.as_ref())?;
        Ok(packed.map(|packed| Arc::new(PackedConv { win: win.clone(), group, act, packed }) as Arc<dyn Op>))
    }
}

impl Op for PackedConv {
    fn run(&self, _: &dyn ExecCtx, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = input(inputs, 0, "Conv")?;
        let b = opt_input(inputs, 2);
        let z = opt_input(inputs, 3);
        let Some(w) = opt_input(inputs, 1) else {
            // The plan released the raw weights (see `absorbed_inputs`): the packed f32 form is all.
            ensure!(x.dtype() == DType::F32, "Conv: input dtype {} differs from the weights' (float32)", x.dtype());
            let cs = ConvShape::new(x.shape(), &self.packed.shape, &self.win, self.group)?;
            check_residual(z, DType::F32, &cs.out_shape())?;
            let bs = b.map(|b| b.as_slice::<f32>()).transpose()?;
            let zs = z.map(|z| z.as_slice::<f32>()).transpose()?;
            let y = conv_res_f32(x.as_slice()?, ConvWeights::Packed(&self.packed, None), bs, zs, &cs, self.act)?;
            return Ok(vec![Tensor::from_vec(cs.out_shape(), y)?]);
        };
        Ok(vec![conv_act_tensor(x, w, Some(&self.packed), b, z, &self.win, self.group, self.act)?])
    }

    fn absorbed_inputs(&self) -> &'static [usize] {
        if self.packed.needs_raw() {
            &[]
        } else {
            &[1]
        }
    }

    fn held_bytes(&self) -> usize {
        self.packed.held_bytes()
    }

    fn infer(&self, inputs: &[InferInput]) -> Result<Vec<ValueInfo>> {
        Ok(infer_conv(&self.win, inputs, None))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::nn::common::AutoPad;

    /// Small deterministic pseudo-random generator for tests.
    pub struct Lcg(pub u64);
    impl Lcg {
        pub fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        pub fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
        pub fn float(&mut self) -> f64 {
            (self.next() % 2001) as f64 / 1000.0 - 1.0
        }
    }

    /// Naive direct-loop float64 convolution.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn naive(
        x: &[f64],
        xs: &[usize],
        w: &[f64],
        ws: &[usize],
        b: Option<&[f64]>,
        g: usize,
        geo: &Geometry,
    ) -> Vec<f64> {
        let (n, c, m) = (xs[0], xs[1], ws[0]);
        let sp = &xs[2..];
        let (cg, mg) = (c / g, m / g);
        let out_size: usize = geo.out.iter().product();
        let ksize = geo.kernel_size();
        let in_size: usize = sp.iter().product();
        let mut y = vec![0.0; n * m * out_size];
        let r = sp.len();
        let (mut o, mut k) = (vec![0; r], vec![0; r]);
        for ni in 0..n {
            for mo in 0..m {
                let gi = mo / mg;
                for of in 0..out_size {
                    unravel(of, &geo.out, &mut o);
                    let mut acc = b.map(|b| b[mo]).unwrap_or(0.0);
                    for ci in 0..cg {
                        for kf in 0..ksize {
                            unravel(kf, &geo.kernel, &mut k);
                            let mut idx = 0usize;
                            let mut ok = true;
                            for d in 0..r {
                                let i = (o[d] * geo.strides[d] + k[d] * geo.dilations[d]) as i64 - geo.pads_begin[d];
                                if i < 0 || i >= sp[d] as i64 {
                                    ok = false;
                                    break;
                                }
                                idx = idx * sp[d] + i as usize;
                            }
                            if ok {
                                let xv = x[(ni * c + gi * cg + ci) * in_size + idx];
                                acc += xv * w[(mo * cg + ci) * ksize + kf];
                            }
                        }
                    }
                    y[(ni * m + mo) * out_size + of] = acc;
                }
            }
        }
        y
    }

    #[test]
    fn conv_matches_naive_on_random_shapes() {
        let mut rng = Lcg(12345);
        for case in 0..300 {
            let r = 1 + rng.below(3);
            let g = [1, 1, 2, 3][rng.below(4)];
            let depthwise = rng.below(3) == 0;
            let cg = if depthwise { 1 } else { 1 + rng.below(3) };
            let c = cg * g;
            let m = g * (1 + rng.below(3));
            let n = 1 + rng.below(2);
            let mut xs = vec![n, c];
            let mut ks = vec![];
            for _ in 0..r {
                xs.push(1 + rng.below(if r == 3 { 5 } else { 8 }));
                ks.push(1 + rng.below(3));
            }
            let strides: Vec<i64> = (0..r).map(|_| 1 + rng.below(3) as i64).collect();
            let dil: Vec<i64> = (0..r).map(|_| 1 + rng.below(2) as i64).collect();
            let pads: Vec<i64> = (0..2 * r).map(|_| rng.below(3) as i64).collect();
            let auto_pad = [AutoPad::NotSet, AutoPad::NotSet, AutoPad::SameUpper, AutoPad::SameLower, AutoPad::Valid]
                [rng.below(5)];
            let win = Window {
                kernel_shape: None,
                strides: Some(strides),
                dilations: Some(dil),
                pads: Some(pads),
                auto_pad,
                ceil_mode: false,
            };
            let mut ws = vec![m, cg];
            ws.extend(&ks);
            let Ok(cs) = ConvShape::new(&xs, &ws, &win, g) else {
                continue;
            };
            let xv: Vec<f64> = (0..xs.iter().product::<usize>()).map(|_| rng.float()).collect();
            let wv: Vec<f64> = (0..ws.iter().product::<usize>()).map(|_| rng.float()).collect();
            let bv: Vec<f64> = (0..m).map(|_| rng.float()).collect();
            let use_b = rng.below(2) == 0;
            let bref = if use_b { Some(&bv[..]) } else { None };
            let want = naive(&xv, &xs, &wv, &ws, bref, g, &cs.geo);
            let got = conv_typed::<f64>(&xv, &wv, bref, &cs).unwrap();
            assert_eq!(want.len(), got.len(), "case {case}");
            for (a, b) in want.iter().zip(&got) {
                assert!((a - b).abs() < 1e-9, "case {case}: xs {xs:?} ws {ws:?} {cs:?}: {a} vs {b}");
            }
            // f32 path agrees too.
            let xf: Vec<f32> = xv.iter().map(|&v| v as f32).collect();
            let wf: Vec<f32> = wv.iter().map(|&v| v as f32).collect();
            let bf: Vec<f32> = bv.iter().map(|&v| v as f32).collect();
            let gotf = conv_typed::<f32>(&xf, &wf, if use_b { Some(&bf) } else { None }, &cs).unwrap();
            for (a, b) in want.iter().zip(&gotf) {
                assert!((a - *b as f64).abs() < 1e-4, "f32 case {case}");
            }
        }
    }
}

#[cfg(test)]
mod bench {
    use super::*;

    /// Rough timing of model-sized convolutions: `cargo test --release -p zenrt-core conv_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn conv_timing() {
        #[allow(clippy::type_complexity)]
        let cases: [(&str, [usize; 4], [usize; 4], usize, i64, i64); 4] = [
            ("resnet 3x3 64->64 @56", [4, 64, 56, 56], [64, 64, 3, 3], 1, 1, 1),
            ("resnet 1x1 256->64 @56", [4, 256, 56, 56], [64, 256, 1, 1], 1, 1, 0),
            ("resnet stem 7x7/2", [4, 3, 224, 224], [64, 3, 7, 7], 1, 2, 3),
            ("mobilenet dw 3x3 144 @56", [4, 144, 56, 56], [144, 1, 3, 3], 144, 1, 1),
        ];
        for (name, xs, ws, g, s, p) in cases {
            let win = Window {
                kernel_shape: None,
                strides: Some(vec![s, s]),
                dilations: None,
                pads: Some(vec![p; 4]),
                auto_pad: super::super::common::AutoPad::NotSet,
                ceil_mode: false,
            };
            let cs = ConvShape::new(&xs, &ws, &win, g).unwrap();
            let x = vec![0.5f32; xs.iter().product()];
            let w = vec![0.25f32; ws.iter().product()];
            let t = std::time::Instant::now();
            let y = conv_typed::<f32>(&x, &w, None, &cs).unwrap();
            let dt = t.elapsed().as_secs_f64();
            let flops = 2.0 * y.len() as f64 * (ws[1] * ws[2] * ws[3]) as f64;
            println!("{name}: {:.2} ms, {:.1} GFLOP/s", dt * 1e3, flops / dt / 1e9);
        }
    }
}
