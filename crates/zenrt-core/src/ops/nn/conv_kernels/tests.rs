//! The f32 fast path against the float64 naive convolution: random shapes (1-D..3-D, groups,
//! depthwise with multipliers, 1×1, strides, dilations, pads), raw and pre-packed weights,
//! fused activations, one and two threads.

use super::*;
use crate::ops::nn::common::{AutoPad, Window};
use crate::ops::nn::conv::tests::{naive, Lcg};
use depthwise::DwPath;

fn random_case(rng: &mut Lcg, case: usize) {
    let r = if case.is_multiple_of(3) { 1 + rng.below(3) } else { 2 };
    let g = [1, 1, 2, 3][rng.below(4)];
    let depthwise = rng.below(3) == 0;
    let cg = if depthwise { 1 } else { 1 + rng.below(5) };
    let c = cg * g;
    let m = g * (1 + rng.below(if depthwise { 2 } else { 20 }));
    let n = 1 + rng.below(2);
    let pointwise = rng.below(4) == 0;
    let mut xs = vec![n, c];
    let mut ks = vec![];
    for _ in 0..r {
        xs.push(1 + rng.below(if r == 3 { 5 } else { 12 }));
        ks.push(if pointwise { 1 } else { 1 + rng.below(3) });
    }
    let strides: Vec<i64> = (0..r).map(|_| if pointwise { 1 } else { 1 + rng.below(3) as i64 }).collect();
    let dil: Vec<i64> = (0..r).map(|_| 1 + rng.below(2) as i64).collect();
    let pads: Vec<i64> = (0..2 * r).map(|_| if pointwise { 0 } else { rng.below(3) as i64 }).collect();
    let auto_pad = if pointwise { AutoPad::NotSet } else { [AutoPad::NotSet, AutoPad::SameUpper][rng.below(2)] };
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
    let Ok(cs) = ConvShape::new(&xs, &ws, &win, g) else { return };
    let xv: Vec<f64> = (0..xs.iter().product::<usize>()).map(|_| rng.float()).collect();
    let wv: Vec<f64> = (0..ws.iter().product::<usize>()).map(|_| rng.float()).collect();
    let bv: Vec<f64> = (0..m).map(|_| rng.float()).collect();
    let use_b = rng.below(2) == 0;
    let act = [Activation::None, Activation::Relu, Activation::Clip(0.0, 0.5), Activation::Silu][rng.below(4)];
    let want = naive(&xv, &xs, &wv, &ws, use_b.then_some(&bv[..]), g, &cs.geo);
    let xf: Vec<f32> = xv.iter().map(|&v| v as f32).collect();
    let wf: Vec<f32> = wv.iter().map(|&v| v as f32).collect();
    let bf: Vec<f32> = bv.iter().map(|&v| v as f32).collect();
    let packed = PackedConvWeights::new(&wf, &ws, g).unwrap();
    let mut variants = vec![ConvWeights::Raw(&wf)];
    if let Some(p) = &packed {
        variants.push(ConvWeights::Packed(p, Some(&wf)));
    }
    let kdim = cg * ks.iter().product::<usize>();
    for wts in variants {
        let got = conv_f32(&xf, wts, use_b.then_some(&bf[..]), &cs, act).unwrap();
        assert_eq!(want.len(), got.len());
        for (a, b) in want.iter().zip(&got) {
            let tol = 1e-5 * (kdim as f64 + 1.0);
            assert!(
                (act.eval(*a) - *b as f64).abs() <= tol,
                "case {case}: xs {xs:?} ws {ws:?} g {g} {cs:?}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn fast_conv_matches_naive() {
    let mut rng = Lcg(99);
    for case in 0..250 {
        random_case(&mut rng, case);
    }
}

#[test]
fn fast_conv_matches_naive_in_parallel() {
    let pool = crate::threads::pool(2).unwrap();
    let mut rng = Lcg(7);
    crate::threads::run_in(Some(&pool), || {
        for case in 0..150 {
            random_case(&mut rng, case);
        }
    });
}

#[test]
fn resnet_sized_conv() {
    // A 3×3 conv large enough to use several K blocks and tasks.
    let mut rng = Lcg(5);
    let (xs, ws) = ([1usize, 64, 14, 14], [40usize, 64, 3, 3]);
    let win = Window {
        kernel_shape: None,
        strides: None,
        dilations: None,
        pads: Some(vec![1, 1, 1, 1]),
        auto_pad: AutoPad::NotSet,
        ceil_mode: false,
    };
    let cs = ConvShape::new(&xs, &ws, &win, 1).unwrap();
    let xv: Vec<f64> = (0..xs.iter().product::<usize>()).map(|_| rng.float()).collect();
    let wv: Vec<f64> = (0..ws.iter().product::<usize>()).map(|_| rng.float()).collect();
    let want = naive(&xv, &xs, &wv, &ws, None, 1, &cs.geo);
    let xf: Vec<f32> = xv.iter().map(|&v| v as f32).collect();
    let wf: Vec<f32> = wv.iter().map(|&v| v as f32).collect();
    let p = PackedConvWeights::new(&wf, &ws, 1).unwrap().unwrap();
    let pool = crate::threads::pool(2).unwrap();
    let got = crate::threads::run_in(Some(&pool), || {
        conv_f32(&xf, ConvWeights::Packed(&p, Some(&wf)), None, &cs, Activation::None)
    })
    .unwrap();
    for (a, b) in want.iter().zip(&got) {
        assert!((a - *b as f64).abs() < 1e-3, "{a} vs {b}");
    }
}

#[test]
fn batched_small_images_split_by_image() {
    // keras_cnn-like: 4 images whose GEMMs are too small to split, so images go to tasks.
    let mut rng = Lcg(11);
    let (xv, wv, bv, cs) = case_2d(&mut rng, [4, 3, 32, 32], [32, 3, 3, 3], 1, 1, [0; 4]);
    let want = naive(&xv, &[4, 3, 32, 32], &wv, &[32, 3, 3, 3], Some(&bv), 1, &cs.geo);
    let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
    let p = PackedConvWeights::new(&wf, &[32, 3, 3, 3], 1).unwrap().unwrap();
    let pool = crate::threads::pool(2).unwrap();
    let run = || conv_f32(&xf, ConvWeights::Packed(&p, Some(&wf)), Some(&bf), &cs, Activation::Relu);
    for got in [run().unwrap(), crate::threads::run_in(Some(&pool), run).unwrap()] {
        assert!(rel_err(&want, &got, Activation::Relu) < 1e-5);
    }
}

/// A random 2-D case: input, weights, bias (f64) and the conv shape.
#[allow(clippy::type_complexity)]
fn case_2d(
    rng: &mut Lcg,
    xs: [usize; 4],
    ws: [usize; 4],
    g: usize,
    stride: i64,
    pads: [i64; 4],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, ConvShape) {
    let win = Window {
        kernel_shape: None,
        strides: Some(vec![stride; 2]),
        dilations: None,
        pads: Some(pads.to_vec()),
        auto_pad: AutoPad::NotSet,
        ceil_mode: false,
    };
    let cs = ConvShape::new(&xs, &ws, &win, g).unwrap();
    let xv: Vec<f64> = (0..xs.iter().product::<usize>()).map(|_| rng.float()).collect();
    let wv: Vec<f64> = (0..ws.iter().product::<usize>()).map(|_| rng.float()).collect();
    let bv: Vec<f64> = (0..ws[0]).map(|_| rng.float()).collect();
    (xv, wv, bv, cs)
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&v| v as f32).collect()
}

/// One random group-1 conv case: input, weights and bias drawn from `rng` (their f32 roundings for
/// the kernels), the bias used or not, a fused activation, and the float64 reference (before the
/// activation) from the unrounded values.
struct RandomConv {
    want: Vec<f64>,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    act: Activation,
}

fn random_conv(rng: &mut Lcg, xs: &[usize], ws: &[usize], geo: &crate::ops::nn::common::Geometry) -> RandomConv {
    let xv: Vec<f64> = (0..xs.iter().product::<usize>()).map(|_| rng.float()).collect();
    let wv: Vec<f64> = (0..ws.iter().product::<usize>()).map(|_| rng.float()).collect();
    let bv: Vec<f64> = (0..ws[0]).map(|_| rng.float()).collect();
    let bias = (rng.below(3) > 0).then_some(&bv[..]);
    let act = [Activation::None, Activation::Relu, Activation::Clip(0.0, 0.5), Activation::Silu][rng.below(4)];
    let want = naive(&xv, xs, &wv, ws, bias, 1, geo);
    RandomConv { want, x: to_f32(&xv), w: to_f32(&wv), b: bias.map(to_f32), act }
}

/// When `on`: a random residual `z` (f32-exact values) added to the reference `want`; returns it.
fn add_residual_to(rng: &mut Lcg, want: &mut [f64], on: bool) -> Option<Vec<f32>> {
    on.then(|| {
        let z: Vec<f32> = (0..want.len()).map(|_| rng.float() as f32).collect();
        want.iter_mut().zip(&z).for_each(|(w, &z)| *w += z as f64);
        z
    })
}

#[test]
fn residual_matches_float64_on_every_path() {
    // `act(conv + b + z)` through each kernel (depthwise plane and channel-blocked, few-channel,
    // Winograd, implicit-im2col GEMM, 1-D im2col GEMM, pointwise direct and GEMM), raw and planned
    // weights, 1 and 2 threads, against the float64 direct convolution plus the residual.
    let mut rng = Lcg(77);
    let pool = crate::threads::pool(2).unwrap();
    /// (input, weight, group, stride, pad)
    type Case = (&'static [usize], &'static [usize], usize, i64, i64);
    let cases: [Case; 8] = [
        (&[2, 8, 40, 40], &[8, 1, 3, 3], 8, 1, 1),
        (&[1, 16, 7, 7], &[16, 1, 5, 5], 16, 1, 2),
        (&[2, 3, 20, 20], &[5, 3, 3, 3], 1, 1, 1),
        (&[1, 16, 20, 20], &[8, 16, 3, 3], 1, 1, 1),
        (&[2, 6, 11, 9], &[7, 6, 3, 3], 1, 2, 1),
        (&[2, 5, 30], &[4, 5, 3], 1, 1, 1),
        (&[2, 24, 30, 30], &[10, 24, 1, 1], 1, 1, 0),
        (&[3, 40, 7, 7], &[12, 40, 1, 1], 1, 1, 0),
    ];
    for (k, (xs, ws, g, st, pad)) in cases.into_iter().enumerate() {
        let r = xs.len() - 2;
        let win = Window { strides: Some(vec![st; r]), pads: Some(vec![pad; 2 * r]), ..Window::default() };
        let cs = ConvShape::new(xs, ws, &win, g).unwrap();
        let xv: Vec<f64> = (0..xs.iter().product::<usize>()).map(|_| rng.float()).collect();
        let wv: Vec<f64> = (0..ws.iter().product::<usize>()).map(|_| rng.float()).collect();
        let bv: Vec<f64> = (0..ws[0]).map(|_| rng.float()).collect();
        let mut want = naive(&xv, xs, &wv, ws, Some(&bv), g, &cs.geo);
        let z = add_residual_to(&mut rng, &mut want, true).unwrap_or_default();
        let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
        let mut one = cs.clone();
        one.n = 1;
        let planned = PackedConvWeights::plan(&wf, ws, g, st == 1, Some(&one)).unwrap();
        let second = match &planned {
            Some(p) => ConvWeights::Packed(p, p.needs_raw().then_some(&wf[..])),
            None => ConvWeights::Raw(&wf),
        };
        for act in [Activation::None, Activation::Relu, Activation::Silu] {
            for (threads, wts) in [(1, ConvWeights::Raw(&wf)), (2, second)] {
                let run = || conv_res_f32(&xf, wts, Some(&bf), Some(&z), &cs, act).unwrap();
                let got = if threads == 2 { crate::threads::run_in(Some(&pool), run) } else { run() };
                let e = rel_err(&want, &got, act);
                assert!(e < 1e-5, "case {k}: {xs:?} {ws:?} {act:?} threads {threads}: {e}");
            }
        }
    }
    // A residual of the wrong length is an error, not a panic.
    let cs = ConvShape::new(&[1, 2, 4, 4], &[3, 2, 1, 1], &Window::default(), 1).unwrap();
    let (x, w) = (vec![1f32; 32], vec![1f32; 6]);
    assert!(conv_res_f32(&x, ConvWeights::Raw(&w), None, Some(&[0.0; 47]), &cs, Activation::None).is_err());
}

/// 1×1 convs read where they lie and strided 1×1 convs (the batch's planes gathered, then every
/// 1×1 path), each with the input packed instead (`DIRECT_B` off) and without the gather
/// (`GATHER_1X1` off: implicit im2col / transposed GEMM) as well: random shapes large enough for the GEMM path
/// (downsample-like strides 2 and 3, odd sizes, partial column panels), with and without a
/// residual, raw and planned weights, 1 and 2 threads, against the float64 direct convolution.
#[test]
fn pointwise_and_strided_1x1_match_float64() {
    let mut rng = Lcg(31);
    let pool = crate::threads::pool(2).unwrap();
    for case in 0..24 {
        let n = 1 + rng.below(3);
        let (c, m) = (17 + rng.below(90), 20 + rng.below(80));
        let (h, w) = (10 + rng.below(30), 10 + rng.below(30));
        let st = [1, 2, 2, 3][case % 4];
        let (xs, ws) = ([n, c, h, w], [m, c, 1, 1]);
        let win = Window { strides: Some(vec![st; 2]), pads: Some(vec![0; 4]), ..Window::default() };
        let cs = ConvShape::new(&xs, &ws, &win, 1).unwrap();
        let rc = random_conv(&mut rng, &xs, &ws, &cs.geo);
        let mut want = rc.want.clone();
        let z = add_residual_to(&mut rng, &mut want, case % 3 != 0);
        let mut one = cs.clone();
        one.n = 1;
        let planned = PackedConvWeights::plan(&rc.w, &ws, 1, st == 1, Some(&one)).unwrap();
        let second = match &planned {
            Some(p) => ConvWeights::Packed(p, p.needs_raw().then_some(&rc.w[..])),
            None => ConvWeights::Raw(&rc.w),
        };
        for (direct, gather) in [(true, true), (false, true), (true, false)] {
            DIRECT_B.set(direct);
            GATHER_1X1.set(gather);
            for (threads, wts) in [(1, ConvWeights::Raw(&rc.w)), (2, second), (1, second)] {
                let run = || conv_res_f32(&rc.x, wts, rc.b.as_deref(), z.as_deref(), &cs, rc.act).unwrap();
                let got = if threads == 2 { crate::threads::run_in(Some(&pool), run) } else { run() };
                let e = rel_err(&want, &got, rc.act);
                assert!(
                    e < 1e-5,
                    "case {case}: {xs:?} stride {st} {:?} direct {direct} gather {gather} threads {threads}: {e}",
                    rc.act
                );
            }
        }
        DIRECT_B.set(true);
        GATHER_1X1.set(true);
    }
}

/// Largest |error| relative to the largest |value| of `want`.
fn rel_err(want: &[f64], got: &[f32], act: Activation) -> f64 {
    let scale = want.iter().fold(1e-30f64, |m, &v| m.max(act.eval(v).abs()));
    want.iter().zip(got).fold(0.0f64, |m, (&a, &b)| m.max((act.eval(a) - b as f64).abs())) / scale
}

#[test]
fn winograd_matches_float64_direct_conv() {
    winograd_random_cases(2024);
}

#[test]
fn winograd_8_lane_path_matches_float64_direct_conv() {
    // The AVX2 / scalar transforms (the AVX-512 ones run by default on AVX-512 machines); a call
    // reads the switch once, so other tests running meanwhile stay correct either way.
    winograd::set_avx512(false);
    winograd_random_cases(2025);
    winograd::set_avx512(true);
}

fn winograd_random_cases(seed: u64) {
    let mut rng = Lcg(seed);
    let kern = kernels::best();
    let pool = crate::threads::pool(2).unwrap();
    for case in 0..60 {
        let n = 1 + rng.below(2);
        let (c, m) = (1 + rng.below(21), 1 + rng.below(21));
        let (h, w) = (1 + rng.below(19), 1 + rng.below(19));
        let pads = [rng.below(3) as i64, rng.below(3) as i64, rng.below(3) as i64, rng.below(3) as i64];
        if h as i64 + pads[0] + pads[2] < 3 || w as i64 + pads[1] + pads[3] < 3 {
            continue;
        }
        let (xv, wv, bv, cs) = case_2d(&mut rng, [n, c, h, w], [m, c, 3, 3], 1, 1, pads);
        assert!(winograd::applies(&cs));
        let act = [Activation::None, Activation::Relu, Activation::Silu][rng.below(3)];
        let want = naive(&xv, &[n, c, h, w], &wv, &[m, c, 3, 3], Some(&bv), 1, &cs.geo);
        let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
        for tile in [winograd::Tile::F2, winograd::Tile::F4] {
            let wt = WinogradWeights::new(&wf, m, c, tile, kern).unwrap();
            for threads in [1, 2] {
                let mut y = vec![f32::NAN; want.len()];
                let mut run = || winograd::winograd_f32(&xf, &wt, Some(&bf), &cs, act, &mut y);
                if threads == 2 {
                    crate::threads::run_in(Some(&pool), run).unwrap();
                } else {
                    run().unwrap();
                }
                let e = rel_err(&want, &y, act);
                assert!(e < 1e-5, "case {case} {tile:?} threads {threads}: [{n},{c},{h},{w}]→{m} pads {pads:?}: {e}");
            }
        }
    }
}

#[test]
fn winograd_in_chunks_of_images_matches_float64() {
    // 5 images of 30×29 → 31×28 outputs (F4: 8×7 tiles, F2: 16×14): chunks of 1 image, a few,
    // or all.
    let mut rng = Lcg(4);
    let (xs, ws) = ([5, 17, 30, 29], [19, 17, 3, 3]);
    let (xv, wv, bv, cs) = case_2d(&mut rng, xs, ws, 1, 1, [1, 0, 2, 1]);
    let want = naive(&xv, &xs, &wv, &ws, Some(&bv), 1, &cs.geo);
    let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
    let pool = crate::threads::pool(2).unwrap();
    for tile in [winograd::Tile::F2, winograd::Tile::F4] {
        let wt = WinogradWeights::new(&wf, 19, 17, tile, kernels::best()).unwrap();
        // 1 image per chunk, 2 (the last chunk short), and the whole batch at once.
        for chunk_tiles in [1, 100, 10_000] {
            let mut y = vec![f32::NAN; want.len()];
            crate::threads::run_in(Some(&pool), || {
                winograd::winograd_chunked(&xf, &wt, Some(&bf), &cs, Activation::Relu, &mut y, chunk_tiles)
            })
            .unwrap();
            let e = rel_err(&want, &y, Activation::Relu);
            assert!(e < 1e-5, "{tile:?} chunk {chunk_tiles}: {e}");
        }
    }
}

#[test]
fn plan_packs_only_the_form_the_calls_use() {
    // Static 56×56 input: Winograd pays for one image, so only its weights are built, and they
    // are final (no raw weights needed). A static 8×8 input (4 tiles per image) gets the GEMM
    // packing, final too: batch 8 (where Winograd would pay) still runs it. Without static dims
    // the GEMM packing is built and Winograd's weights come when a batch large enough does.
    let mut rng = Lcg(8);
    let ws = [16usize, 16, 3, 3];
    let wf: Vec<f32> = (0..ws.iter().product::<usize>()).map(|_| rng.float() as f32).collect();
    let shape_at = |n: usize, hw: usize| {
        let (_, _, _, cs) = case_2d(&mut Lcg(1), [n, 16, hw, hw], ws, 1, 1, [1; 4]);
        cs
    };
    let close = |got: &[f32], want: &[f32]| {
        assert_eq!(got.len(), want.len());
        for (a, b) in want.iter().zip(got) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    };
    let u_bytes = 36 * 18 * 16 * 4; // 36 packed [M=16 (3 panels of 6 = 18 rows), C=16]
    let im2col_bytes = 144 * 18 * 4;
    let check_bytes = winograd_tile() == Some(winograd::Tile::F4) && kernels::best().mr == 6;
    let big = PackedConvWeights::plan(&wf, &ws, 1, true, Some(&shape_at(1, 56))).unwrap().unwrap();
    let small = PackedConvWeights::plan(&wf, &ws, 1, true, Some(&shape_at(1, 8))).unwrap().unwrap();
    let dynamic = PackedConvWeights::plan(&wf, &ws, 1, true, None).unwrap().unwrap();
    assert!(!big.needs_raw() && !small.needs_raw() && dynamic.needs_raw());
    let cs = shape_at(8, 8);
    let x: Vec<f32> = (0..8 * 16 * 64).map(|_| rng.float() as f32).collect();
    let want = conv_f32(&x, ConvWeights::Raw(&wf), None, &cs, Activation::None).unwrap();
    for p in [&big, &small] {
        close(&conv_f32(&x, ConvWeights::Packed(p, None), None, &cs, Activation::None).unwrap(), &want);
    }
    close(&conv_f32(&x, ConvWeights::Packed(&dynamic, Some(&wf)), None, &cs, Activation::None).unwrap(), &want);
    if check_bytes {
        assert_eq!(big.held_bytes(), u_bytes);
        assert_eq!(small.held_bytes(), im2col_bytes);
        assert_eq!(dynamic.held_bytes(), im2col_bytes + u_bytes);
    }
    // The dynamic form needs the raw weights for what it builds on first use: an error, no panic.
    let fresh = PackedConvWeights::plan(&wf, &ws, 1, true, None).unwrap().unwrap();
    if winograd_tile().is_some() {
        assert!(conv_f32(&x, ConvWeights::Packed(&fresh, None), None, &cs, Activation::None).is_err());
    }
    // Final Winograd weights also run a shape too small for Winograd to pay.
    let cs = shape_at(1, 3);
    let x: Vec<f32> = (0..16 * 9).map(|_| rng.float() as f32).collect();
    let want = conv_f32(&x, ConvWeights::Raw(&wf), None, &cs, Activation::None).unwrap();
    close(&conv_f32(&x, ConvWeights::Packed(&big, None), None, &cs, Activation::None).unwrap(), &want);
}

#[test]
fn winograd_error_on_resnet_shape() {
    // F(2,3) and F(4,3) error vs float64 on a ResNet-50 layer1 3×3 conv (prints the numbers
    // quoted in docs/kernels.md: `cargo test --release -p zenrt-core winograd_error -- --nocapture`).
    let mut rng = Lcg(77);
    let (xv, wv, bv, cs) = case_2d(&mut rng, [1, 64, 56, 56], [64, 64, 3, 3], 1, 1, [1; 4]);
    let want = naive(&xv, &[1, 64, 56, 56], &wv, &[64, 64, 3, 3], Some(&bv), 1, &cs.geo);
    let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
    let direct = conv_f32(&xf, ConvWeights::Raw(&wf), Some(&bf), &cs, Activation::None).unwrap();
    let ed = rel_err(&want, &direct, Activation::None);
    for tile in [winograd::Tile::F2, winograd::Tile::F4] {
        let wt = WinogradWeights::new(&wf, 64, 64, tile, kernels::best()).unwrap();
        let mut y = vec![0f32; want.len()];
        winograd::winograd_f32(&xf, &wt, Some(&bf), &cs, Activation::None, &mut y).unwrap();
        let e = rel_err(&want, &y, Activation::None);
        println!("{tile:?}: max error / max |y| = {e:.2e} (im2col+GEMM: {ed:.2e})");
        let tol = if tile == winograd::Tile::F2 { 1e-6 } else { 2e-5 };
        assert!(e < tol, "{tile:?}: {e}");
    }
}

#[test]
fn depthwise_large_planes_match_float64() {
    // Planes wide enough for the 32-column blocks, strides 1 and 2, 3×3 and 5×5, fused SiLU/Clip.
    let mut rng = Lcg(31);
    for (hw, k, s, act) in [
        (56, 3, 1, Activation::Clip(0.0, 6.0)),
        (57, 3, 2, Activation::Silu),
        (40, 5, 1, Activation::Silu),
        (45, 5, 2, Activation::Relu),
        (7, 3, 1, Activation::None),
    ] {
        let p = (k / 2) as i64;
        let (xv, wv, bv, cs) = case_2d(&mut rng, [2, 5, hw, hw + 3], [5, 1, k, k], 5, s, [p; 4]);
        let want = naive(&xv, &[2, 5, hw, hw + 3], &wv, &[5, 1, k, k], Some(&bv), 5, &cs.geo);
        let paths = [DwPath::Reference, DwPath::Planes, DwPath::Blocked, DwPath::PlanesAvx2, DwPath::BlockedAvx2];
        for path in paths.into_iter().chain([DwPath::Auto]) {
            let mut got = vec![f32::NAN; want.len()];
            let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
            depthwise::depthwise_with(path, &xf, &wf, Some(&bf), &cs, act, &mut got);
            let e = rel_err(&want, &got, act);
            assert!(e < 1e-6, "{hw} k{k} s{s} {path:?}: {e}");
        }
    }
}

#[test]
fn depthwise_random_shapes_match_float64() {
    // Odd sizes (narrower than a vector too), asymmetric pads, strides 1–3, kernels 2–7,
    // channel multipliers, every activation kind of the fast path; one and two threads; the
    // plane kernel and the channel-blocked kernel (channel counts across the 8-lane blocks).
    let mut rng = Lcg(4242);
    let pool = crate::threads::pool(2).unwrap();
    for case in 0..600 {
        let k: usize = [3, 5, 7, 3, 5, 2, 4][rng.below(7)];
        let s = [1, 2, 1, 2, 3][rng.below(5)] as i64;
        let path = [DwPath::Planes, DwPath::Blocked, DwPath::PlanesAvx2, DwPath::BlockedAvx2][case % 4];
        let blocked = matches!(path, DwPath::Blocked | DwPath::BlockedAvx2);
        let (h, w) = (1 + rng.below(40), 1 + rng.below(40));
        let pads = [0; 4].map(|_: i64| rng.below(k as u64) as i64);
        if h as i64 + pads[0] + pads[2] < k as i64 || w as i64 + pads[1] + pads[3] < k as i64 {
            continue;
        }
        let (n, c, mult) = (1 + rng.below(3), 1 + rng.below(if blocked { 40 } else { 5 }), 1 + rng.below(2));
        let (xs, ws) = ([n, c, h, w], [c * mult, 1, k, k]);
        let (xv, wv, bv, cs) = case_2d(&mut rng, xs, ws, c, s, pads);
        let act = [Activation::None, Activation::Relu, Activation::Clip(-0.5, 0.5), Activation::Silu][rng.below(4)];
        let want = naive(&xv, &xs, &wv, &ws, Some(&bv), c, &cs.geo);
        let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
        for threads in [1, 2] {
            let mut got = vec![f32::NAN; want.len()];
            let mut run = || depthwise::depthwise_with(path, &xf, &wf, Some(&bf), &cs, act, &mut got);
            if threads == 2 {
                crate::threads::run_in(Some(&pool), run);
            } else {
                run();
            }
            let e = rel_err(&want, &got, act);
            assert!(
                e < 1e-7 * (k * k) as f64,
                "case {case} {path:?}: {xs:?} k{k} s{s} pads {pads:?} {act:?} threads {threads}: {e}"
            );
        }
    }
}

/// Depthwise layers of MobileNetV2 / EfficientNet-B0 (batch 1): reference tap loop, register-
/// tiled plane kernel and channel-blocked kernel, best of 20 (one thread):
/// `cargo test --release -p zenrt-core depthwise_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn depthwise_timing() {
    let mut rng = Lcg(1);
    let shapes = [
        (32, 112, 3, 1),
        (96, 112, 3, 2),
        (144, 56, 3, 1),
        (144, 56, 5, 2),
        (144, 56, 3, 2),
        (240, 28, 5, 1),
        (192, 28, 3, 1),
    ];
    let more = [(480, 14, 3, 1), (672, 14, 5, 1), (672, 14, 5, 2), (1152, 7, 5, 1), (960, 7, 3, 1)];
    for (c, hw, k, s) in shapes.into_iter().chain(more) {
        let p = (k / 2) as i64;
        let (xv, wv, bv, cs) = case_2d(&mut rng, [1, c, hw, hw], [c, 1, k, k], c, s, [p; 4]);
        let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
        let mut y = vec![0f32; cs.out_shape().iter().product()];
        let paths =
            [DwPath::Reference, DwPath::PlanesAvx2, DwPath::Planes, DwPath::BlockedAvx2, DwPath::Blocked, DwPath::Auto];
        let mut best = [f64::MAX; 6];
        for _ in 0..20 {
            for (i, path) in paths.into_iter().enumerate() {
                let t = std::time::Instant::now();
                depthwise::depthwise_with(path, &xf, &wf, Some(&bf), &cs, Activation::Clip(0.0, 6.0), &mut y);
                best[i] = best[i].min(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let gf = 2.0 * (y.len() * k * k) as f64 / 1e6;
        let cols: Vec<String> =
            paths.iter().zip(best).map(|(p, t)| format!("{p:?} {t:.3} ms ({:.1} GFLOP/s)", gf / t)).collect();
        println!("dw {c}@{hw} k{k} s{s}: {}", cols.join(", "));
    }
}

/// 1×1 layers of MobileNetV2 / EfficientNet-B0 (batch 1) through `conv_f32` with pre-packed
/// weights, best of 20 (one thread):
/// `cargo test --release -p zenrt-core pointwise_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn pointwise_timing() {
    let mut rng = Lcg(1);
    let shapes = [(16, 96, 112), (32, 16, 112), (96, 24, 56), (24, 144, 56), (144, 32, 28), (32, 192, 28)];
    let more =
        [(64, 384, 14), (384, 64, 14), (96, 576, 14), (576, 96, 14), (160, 960, 7), (960, 160, 7), (320, 1280, 7)];
    for (c, m, hw) in shapes.into_iter().chain(more) {
        let (xv, wv, bv, cs) = case_2d(&mut rng, [1, c, hw, hw], [m, c, 1, 1], 1, 1, [0; 4]);
        let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
        let p = PackedConvWeights::new(&wf, &[m, c, 1, 1], 1).unwrap().unwrap();
        let mut best = f64::MAX;
        for _ in 0..20 {
            let t = std::time::Instant::now();
            let y =
                conv_f32(&xf, ConvWeights::Packed(&p, Some(&wf)), Some(&bf), &cs, Activation::Clip(0.0, 6.0)).unwrap();
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
            crate::memory::recycle(y);
        }
        let gf = 2.0 * (m * c * hw * hw) as f64 / 1e6;
        println!("pw {c}->{m} @{hw}: {best:.3} ms ({:.1} GFLOP/s)", gf / best);
    }
}

#[test]
fn few_channel_conv_matches_float64() {
    // Group-1 convolutions with 1–4 input channels (the direct few-channel path): odd sizes,
    // non-square kernels 1..7, strides 1..3 per axis, pads, 1..19 output channels (blocks of
    // 1..6), with and without bias, fused activations, raw and pre-packed weights, 1 and 2 threads.
    let mut rng = Lcg(808);
    let pool = crate::threads::pool(2).unwrap();
    for case in 0..150 {
        let (kh, kw) = (1 + rng.below(7), 1 + rng.below(7));
        let strides = vec![1 + rng.below(3) as i64, 1 + rng.below(3) as i64];
        let (h, w) = (kh + rng.below(40), kw + rng.below(40));
        let pads = vec![rng.below(kh as u64) as i64, rng.below(kw as u64) as i64, rng.below(3) as i64, 0];
        let (n, c, m) = (1 + rng.below(3), 1 + rng.below(4), 1 + rng.below(19));
        let (xs, ws) = ([n, c, h, w], [m, c, kh, kw]);
        let win = Window {
            kernel_shape: None,
            strides: Some(strides.clone()),
            dilations: None,
            pads: Some(pads.clone()),
            auto_pad: AutoPad::NotSet,
            ceil_mode: false,
        };
        let cs = ConvShape::new(&xs, &ws, &win, 1).unwrap();
        if crate::simd::level() != crate::simd::Level::Scalar && c > 1 {
            assert!(few_channels::applies(&cs), "case {case}");
        }
        let RandomConv { want, x: xf, w: wf, b, act } = random_conv(&mut rng, &xs, &ws, &cs.geo);
        let bf = b.as_deref();
        // One input channel is the depthwise layout (no packing): raw weights twice.
        let packed = PackedConvWeights::new(&wf, &ws, 1).unwrap();
        let second = packed.as_ref().map_or(ConvWeights::Raw(&wf), |p| ConvWeights::Packed(p, Some(&wf)));
        for (threads, wts) in [(1, ConvWeights::Raw(&wf)), (2, second)] {
            let run = || conv_f32(&xf, wts, bf, &cs, act).unwrap();
            let got = if threads == 2 { crate::threads::run_in(Some(&pool), run) } else { run() };
            assert_eq!(got.len(), want.len());
            let e = rel_err(&want, &got, act);
            assert!(e < 1e-7 * (c * kh * kw) as f64, "case {case}: {xs:?} {ws:?} s{strides:?} p{pads:?} {act:?}: {e}");
        }
        // The AVX2 and (where the CPU has it) AVX-512 tiles directly.
        for wide in [false, true] {
            let mut got = vec![f32::NAN; want.len()];
            if few_channels::few_channels_with(wide, &xf, &wf, bf, &cs, act, &mut got) {
                let e = rel_err(&want, &got, act);
                assert!(e < 1e-7 * (c * kh * kw) as f64, "case {case} wide {wide}: {xs:?} {ws:?} {act:?}: {e}");
            }
        }
    }
}

#[test]
fn few_channel_plan_packs_nothing() {
    // An RGB stem: the few-channel kernel reads the raw weights, so the plan builds no GEMM
    // packing (it comes on first use where that kernel does not apply); the result against the
    // float64 direct convolution.
    let mut rng = Lcg(9);
    let (xv, wv, _, cs) = case_2d(&mut rng, [2, 3, 12, 12], [8, 3, 3, 3], 1, 1, [1; 4]);
    let want = naive(&xv, &[2, 3, 12, 12], &wv, &[8, 3, 3, 3], None, 1, &cs.geo);
    let (xf, wf) = (to_f32(&xv), to_f32(&wv));
    let p = PackedConvWeights::plan(&wf, &[8, 3, 3, 3], 1, true, Some(&cs)).unwrap().unwrap();
    assert!(p.needs_raw());
    assert_eq!(p.held_bytes(), 0);
    let got = conv_f32(&xf, ConvWeights::Packed(&p, Some(&wf)), None, &cs, Activation::None).unwrap();
    assert!(rel_err(&want, &got, Activation::None) < 1e-5);
}

#[test]
fn pointwise_matches_float64() {
    // 1×1 convolutions through the direct pointwise kernel: 1-D and 2-D, pixel counts below,
    // at and past the 8/16-wide tiles, channel counts giving pixel chunks of 16..512 (several
    // chunks per image), 1..70 output channels (blocks of 1..6), with and without bias, fused
    // activations, raw weights and weights planned for the shape (final: no raw weights, no
    // GEMM packing held), 1 and 2 threads — against the float64 direct convolution.
    let mut rng = Lcg(4242);
    let pool = crate::threads::pool(2).unwrap();
    for case in 0..60 {
        let c = [1 + rng.below(40), 100 + rng.below(300), 1000 + rng.below(200)][rng.below(3)];
        let m = if rng.below(4) == 0 { 40 + rng.below(30) } else { 1 + rng.below(13) };
        let n = 1 + rng.below(3);
        let sp: Vec<usize> =
            if rng.below(3) == 0 { vec![1 + rng.below(70)] } else { vec![1 + rng.below(30), 1 + rng.below(30)] };
        let mut xs = vec![n, c];
        xs.extend(&sp);
        let mut ws = vec![m, c];
        ws.extend(sp.iter().map(|_| 1));
        let cs = ConvShape::new(&xs, &ws, &Window::default(), 1).unwrap();
        let RandomConv { mut want, x: xf, w: wf, b, act } = random_conv(&mut rng, &xs, &ws, &cs.geo);
        let bf = b.as_deref();
        // Every other case adds a residual (FusedConv input 3) before the activation.
        let zf = add_residual_to(&mut rng, &mut want, case % 2 == 1);
        let zf = zf.as_deref();
        let mut one = cs.clone();
        one.n = 1;
        let planned = PackedConvWeights::plan(&wf, &ws, 1, true, Some(&one)).unwrap();
        // Two-D inputs of at most 4 channels are the few-channel kernel's (raw weights kept).
        let few = sp.len() == 2 && c <= few_channels::FEW_CHANNELS;
        if let (Some(p), false) = (&planned, few) {
            assert!(!p.needs_raw());
            if pointwise::chosen(&cs) {
                assert_eq!(p.held_bytes(), m * c * 4, "case {case}: only the pointwise layout is built");
            }
        }
        let second = match &planned {
            Some(p) => ConvWeights::Packed(p, p.needs_raw().then_some(&wf[..])),
            None => ConvWeights::Raw(&wf),
        };
        // The direct kernel itself, also on the small images `conv_f32` gives to the GEMM.
        if pointwise::applies(&cs) {
            for threads in [1, 2] {
                let mut got = vec![0f32; want.len()];
                let mut run = || pointwise::pointwise_f32(&xf, &pointwise::pack(&wf, c), bf, zf, &cs, act, &mut got);
                let ran = if threads == 2 { crate::threads::run_in(Some(&pool), run) } else { run() };
                assert!(ran, "case {case}: the direct kernel refused {xs:?}");
                let e = rel_err(&want, &got, act);
                assert!(e < 1e-7 * c as f64 + 1e-6, "case {case}: direct {xs:?} {act:?} threads {threads}: {e}");
            }
        }
        for (threads, wts) in [(1, ConvWeights::Raw(&wf)), (2, ConvWeights::Raw(&wf)), (1, second), (2, second)] {
            let run = || conv_res_f32(&xf, wts, bf, zf, &cs, act).unwrap();
            let got = if threads == 2 { crate::threads::run_in(Some(&pool), run) } else { run() };
            assert_eq!(got.len(), want.len());
            let e = rel_err(&want, &got, act);
            assert!(e < 1e-7 * c as f64 + 1e-6, "case {case}: {xs:?} {ws:?} {act:?} threads {threads}: {e}");
        }
    }
}

#[test]
fn pointwise_planes_pack_like_strided() {
    // The 1×1 conv's B panels (vector moves, masked ragged panel; per image and over a batch of
    // images) against the GEMM's generic strided packing: every panel width the kernels use,
    // ragged widths, K offsets, panels spanning images.
    use crate::ops::gemm::{PackSrc, Strided};
    let mut rng = Lcg(5);
    let (c, p) = (13, 53);
    let x: Vec<f32> = (0..c * p).map(|_| rng.float() as f32).collect();
    let planes = pointwise::Planes::new(&x, c, p).unwrap();
    let strided = Strided::new(&x, c, p, p, 1).unwrap();
    assert!(pointwise::Planes::new(&x[1..], c, p).is_none());
    for r in [4, 6, 8, 16, 32] {
        for (p0, kc) in [(0, 13), (3, 7), (12, 1)] {
            for t0 in [0, 5, 16, 48] {
                for w in 1..=r.min(p - t0) {
                    let mut a = vec![f32::NAN; kc * r];
                    let mut b = vec![f32::NAN; kc * r];
                    planes.pack(p0, kc, t0, w, r, &mut a);
                    strided.pack(p0, kc, t0, w, r, &mut b);
                    assert_eq!(a, b, "r {r} p0 {p0} kc {kc} t0 {t0} w {w}");
                }
            }
        }
    }
    // The batch as one `[C, N·P]` operand against the same matrix gathered and packed strided.
    for (n, p) in [(3, 7), (2, 49), (4, 16), (3, 1)] {
        let x: Vec<f32> = (0..n * c * p).map(|_| rng.float() as f32).collect();
        let gathered: Vec<f32> = (0..c)
            .flat_map(|ci| (0..n).flat_map(|ni| x[(ni * c + ci) * p..][..p].to_vec()).collect::<Vec<_>>())
            .collect();
        let batch = pointwise::BatchPlanes::new(&x, n, c, p).unwrap();
        let strided = Strided::new(&gathered, c, n * p, n * p, 1).unwrap();
        assert_eq!(batch.other(), n * p);
        for r in [8, 16] {
            for t0 in (0..n * p).step_by(5) {
                for w in 0..=r.min(n * p - t0) {
                    let mut a = vec![f32::NAN; 4 * r];
                    let mut b = vec![f32::NAN; 4 * r];
                    batch.pack(5, 4, t0, w, r, &mut a);
                    strided.pack(5, 4, t0, w, r, &mut b);
                    assert_eq!(a, b, "n {n} p {p} r {r} t0 {t0} w {w}");
                }
            }
        }
    }
}

#[test]
fn transposed_matches_float64() {
    // The transposed GEMM (pixels as rows, output channels as columns) on every kernel: 1×1
    // (the batch as one product) and 3×3 / strided / padded (implicit im2col per image), pixel
    // counts around the 12-row panel and its 4/8-row edges, output channels around the 16/32-wide
    // vectors and the 16-channel blocks of the transposed store, with and without bias and
    // residual, every activation kind, packed and raw weights, 1 and 2 threads, against float64.
    let mut rng = Lcg(909);
    let pool = crate::threads::pool(2).unwrap();
    for case in 0..48 {
        let (k, stride, pad) = [(1, 1, 0), (3, 1, 1), (3, 2, 1), (1, 2, 0), (3, 1, 0)][case % 5];
        let hw = [(7, 7), (1, 1), (4, 3), (5, 9), (13, 2), (8, 8)][rng.below(6)];
        let n = 1 + rng.below(3);
        let c = [1, 3, 17, 64][rng.below(4)];
        let m = [1, 5, 16, 31, 32, 33, 70][rng.below(7)];
        let xs = [n, c, hw.0 + stride * (k - 1), hw.1 + stride * (k - 1)];
        let ws = [m, c, k, k];
        let win = Window { strides: Some(vec![stride as i64; 2]), pads: Some(vec![pad; 4]), ..Window::default() };
        let cs = ConvShape::new(&xs, &ws, &win, 1).unwrap();
        let RandomConv { mut want, x, w, b, act } = random_conv(&mut rng, &xs, &ws, &cs.geo);
        let z = add_residual_to(&mut rng, &mut want, case % 3 == 0);
        let kdim = c * k * k;
        // f32 rounding of K-long sums, relative to the largest (possibly clipped) output.
        let tol = 1e-7 * kdim as f64 + 1e-6;
        for kern in kernels::available() {
            let packed = transposed::pack(&w, m, kdim, kern).unwrap();
            let strided = Strided::new(&w, kdim, m, 1, kdim).unwrap();
            for (threads, wt) in
                [(1, Operand::Packed(&packed)), (2, Operand::Src(&strided)), (2, Operand::Packed(&packed))]
            {
                let mut got = vec![f32::NAN; want.len()];
                let mut run = || transposed::conv_f32(kern, wt, &x, b.as_deref(), z.as_deref(), &cs, act, &mut got);
                if threads == 2 { crate::threads::run_in(Some(&pool), run) } else { run() }.unwrap();
                let e = rel_err(&want, &got, act);
                assert!(e < tol, "case {case} {}: {xs:?} {ws:?} s{stride} p{pad} {act:?} t{threads}: {e}", kern.name);
            }
        }
        // Through the conv entry point, with the weights planned for the shape (the transposed
        // form where chosen: final, no raw weights) and raw.
        let mut one = cs.clone();
        one.n = 1;
        let planned = PackedConvWeights::plan(&w, &ws, 1, stride == 1, Some(&one)).unwrap();
        let second = match &planned {
            Some(p) => ConvWeights::Packed(p, p.needs_raw().then_some(&w[..])),
            None => ConvWeights::Raw(&w),
        };
        if let (Some(p), true) =
            (&planned, transposed::chosen(&cs) && c > few_channels::FEW_CHANNELS && !direct_s2::chosen(&cs))
        {
            let wino = k == 3
                && stride == 1
                && winograd_tile_for(Some(&one)).is_some_and(|t| winograd::applies(&one) && winograd::pays(&one, t));
            if !wino {
                assert_eq!(p.held_bytes(), kdim * m.next_multiple_of(kernels::best().nr) * 4, "case {case}");
            }
        }
        for wts in [ConvWeights::Raw(&w), second] {
            let got = conv_res_f32(&x, wts, b.as_deref(), z.as_deref(), &cs, act).unwrap();
            let e = rel_err(&want, &got, act);
            assert!(e < tol, "case {case}: {xs:?} {ws:?} s{stride} p{pad} {act:?}: {e}");
        }
    }
}

#[test]
fn direct_s2_matches_float64() {
    // The direct 3×3 stride-2 kernel against the float64 direct convolution: odd and even image
    // sizes (1×1 outputs up to several chunks of rows, several images per chunk), begin/end pads
    // 0..2, input channels around the 64-channel block (5, 17, 64, 70, 130), output channels
    // around the 8-channel tile (1, 7, 8, 13, 24), batch 1..3, bias or none, every activation
    // kind, residuals, the kernel itself and through the conv entry point with raw and planned
    // weights, 1 and 2 threads.
    if !direct_s2::chosen(&ConvShape::new(&[1, 8, 8, 8], &[8, 8, 3, 3], &s2_window([1; 4]), 1).unwrap()) {
        eprintln!("direct_s2 not available here (no AVX-512 or ZENRT_CONV_S2=off): skipped");
        return;
    }
    let mut rng = Lcg(4242);
    let pool = crate::threads::pool(2).unwrap();
    for case in 0..40 {
        let n = 1 + rng.below(3);
        let c = [5, 17, 64, 70, 130][case % 5];
        let m = [1, 7, 8, 13, 24][rng.below(5)];
        let (h, w) = [(1, 1), (3, 3), (5, 4), (9, 13), (16, 16), (30, 29), (15, 15), (57, 56)][rng.below(8)];
        let pads: [i64; 4] = std::array::from_fn(|_| rng.below(3) as i64);
        let Ok(cs) = ConvShape::new(&[n, c, h, w], &[m, c, 3, 3], &s2_window(pads), 1) else { continue };
        if cs.geo.out.contains(&0) {
            continue;
        }
        assert!(direct_s2::chosen(&cs));
        let (xs, ws) = ([n, c, h, w], [m, c, 3, 3]);
        let RandomConv { mut want, x, w: wf, b, act } = random_conv(&mut rng, &xs, &ws, &cs.geo);
        let tol = 1e-7 * (c * 9) as f64 + 1e-6;
        let wp = direct_s2::pack(&wf, m, c);
        for threads in [1, 2] {
            let mut got = vec![f32::NAN; want.len()];
            let mut run = || direct_s2::conv_f32(&x, &wp, b.as_deref(), &cs, act, &mut got);
            if threads == 2 {
                crate::threads::run_in(Some(&pool), run)
            } else {
                run()
            };
            let e = rel_err(&want, &got, act);
            assert!(e < tol, "case {case}: {xs:?} {ws:?} {pads:?} {act:?} t{threads}: {e}");
        }
        let z = add_residual_to(&mut rng, &mut want, case % 4 == 0);
        let mut one = cs.clone();
        one.n = 1;
        let planned = PackedConvWeights::plan(&wf, &ws, 1, false, Some(&one)).unwrap().unwrap();
        assert!(!planned.needs_raw());
        assert_eq!(planned.held_bytes(), m.div_ceil(direct_s2::B) * direct_s2::B * c * 9 * 4, "case {case}");
        for (threads, wts) in [(1, ConvWeights::Raw(&wf)), (2, ConvWeights::Packed(&planned, None))] {
            let run = || conv_res_f32(&x, wts, b.as_deref(), z.as_deref(), &cs, act).unwrap();
            let got = if threads == 2 { crate::threads::run_in(Some(&pool), run) } else { run() };
            let e = rel_err(&want, &got, act);
            assert!(e < tol, "case {case} entry: {xs:?} {ws:?} {pads:?} {act:?} t{threads}: {e}");
        }
    }
}

fn s2_window(pads: [i64; 4]) -> Window {
    Window { strides: Some(vec![2, 2]), pads: Some(pads.to_vec()), ..Window::default() }
}

/// Per-layer times of ResNet-50's convolutions (batch `ZENRT_TIMING_N`, default 1; 1 thread) on
/// each path: `cargo test --release -p zenrt-core resnet_layers_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn resnet_layers_timing() {
    let n: usize = std::env::var("ZENRT_TIMING_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut rng = Lcg(3);
    // (c, m, k, stride, input hw)
    let layers = [
        (3, 64, 7, 2, 224),
        (64, 64, 1, 1, 56),
        (256, 64, 1, 1, 56),
        (64, 64, 3, 1, 56),
        (64, 256, 1, 1, 56),
        (256, 128, 1, 1, 56),
        (128, 128, 3, 2, 56),
        (256, 512, 1, 2, 56),
        (128, 512, 1, 1, 28),
        (512, 128, 1, 1, 28),
        (128, 128, 3, 1, 28),
        (512, 256, 1, 1, 28),
        (256, 256, 3, 2, 28),
        (512, 1024, 1, 2, 28),
        (256, 1024, 1, 1, 14),
        (1024, 256, 1, 1, 14),
        (256, 256, 3, 1, 14),
        (1024, 512, 1, 1, 14),
        (512, 512, 3, 2, 14),
        (1024, 2048, 1, 2, 14),
        (512, 2048, 1, 1, 7),
        (2048, 512, 1, 1, 7),
        (512, 512, 3, 1, 7),
    ];
    let time = |f: &mut dyn FnMut()| {
        f();
        let mut best = f64::MAX;
        for _ in 0..15 {
            let t = std::time::Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        best
    };
    for (c, m, k, s, hw) in layers {
        let pad = (k / 2) as i64;
        let (xv, wv, bv, cs) = case_2d(&mut rng, [n, c, hw, hw], [m, c, k, k], 1, s as i64, [pad; 4]);
        let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
        let ws = [m, c, k, k];
        let mut one = cs.clone();
        one.n = 1;
        let mut line = format!("{c:>4}->{m:<4} {k}x{k}/{s} @{hw:<3}");
        for (name, limit) in [("gemm", 0), ("trans", usize::MAX - 1)] {
            transposed::set_max_pixels(limit);
            let p = PackedConvWeights::plan(&wf, &ws, 1, false, Some(&one)).unwrap().unwrap();
            let ms = time(&mut || {
                let wts = ConvWeights::Packed(&p, p.needs_raw().then_some(&wf[..]));
                let y = conv_f32(&xf, wts, Some(&bf), &cs, Activation::Relu).unwrap();
                crate::memory::recycle(y);
            });
            line += &format!("  {name} {ms:.3}");
        }
        if k == 3 && s == 1 {
            for tile in [winograd::Tile::F4, winograd::Tile::F2] {
                let wt = WinogradWeights::new(&wf, m, c, tile, kernels::best()).unwrap();
                let mut y = vec![0f32; cs.out_shape().iter().product()];
                let ms =
                    time(&mut || winograd::winograd_f32(&xf, &wt, Some(&bf), &cs, Activation::Relu, &mut y).unwrap());
                line += &format!("  wino{} {ms:.3}", tile.m());
            }
        }
        let gf = 2.0 * (n * m * c * k * k * cs.geo.out.iter().product::<usize>()) as f64 / 1e6;
        println!("{line}   ({gf:.0} MFLOP)");
    }
    transposed::set_max_pixels(transposed::MAX_PIXELS);
}

/// 1×1 convs (ResNet-50's shapes) with the input read where it lies against packed, with and
/// without a residual: min of 15 runs each, alternating. `ZENRT_TIMING_N` sets the batch.
/// `cargo test --release -p zenrt-core pointwise_direct_timing -- --ignored --nocapture`
#[test]
#[ignore]
fn pointwise_direct_timing() {
    let n: usize = std::env::var("ZENRT_TIMING_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut rng = Lcg(5);
    // Outputs from a pool, as in a planned run (no page faults of fresh allocations).
    let pool = crate::memory::BufferPool::new();
    let _scope = pool.enter();
    let layers = [
        (64, 64, 1, 56),
        (256, 64, 1, 56),
        (64, 256, 1, 56),
        (256, 128, 1, 56),
        (256, 512, 2, 56),
        (128, 512, 1, 28),
        (512, 128, 1, 28),
        (512, 1024, 2, 28),
        (256, 1024, 1, 14),
        (1024, 256, 1, 14),
        (1024, 512, 1, 14),
    ];
    for (c, m, s, hw) in layers {
        let (xv, wv, bv, cs) = case_2d(&mut rng, [n, c, hw, hw], [m, c, 1, 1], 1, s as i64, [0; 4]);
        let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
        let z: Vec<f32> = (0..cs.out_shape().iter().product::<usize>()).map(|i| (i % 7) as f32 * 0.1).collect();
        let mut one = cs.clone();
        one.n = 1;
        let p = PackedConvWeights::plan(&wf, &[m, c, 1, 1], 1, false, Some(&one)).unwrap().unwrap();
        // [row order][direct][residual]
        let mut best = [[[f64::MAX; 2]; 2]; 2];
        for _ in 0..9 {
            for (o, row) in [false, true].into_iter().enumerate() {
                crate::ops::gemm::ROW_ORDER.set(row);
                for (d, on) in [false, true].into_iter().enumerate() {
                    DIRECT_B.set(on);
                    for (r, zr) in [None, Some(&z[..])].into_iter().enumerate() {
                        let t = std::time::Instant::now();
                        let y = conv_res_f32(&xf, ConvWeights::Packed(&p, None), Some(&bf), zr, &cs, Activation::Relu)
                            .unwrap();
                        best[o][d][r] = best[o][d][r].min(t.elapsed().as_secs_f64() * 1e3);
                        crate::memory::recycle(y);
                    }
                }
            }
        }
        DIRECT_B.set(true);
        crate::ops::gemm::ROW_ORDER.set(false);
        let f = |o: usize, r: usize| format!("packed {:.3} direct {:.3}", best[o][0][r], best[o][1][r]);
        println!(
            "{c:>4}->{m:<4} 1x1/{s} @{hw:<3} n{n} | col order: {} +res {} | row order: {} +res {}",
            f(0, 0),
            f(0, 1),
            f(1, 0),
            f(1, 1)
        );
    }
}

/// Per-phase times of Winograd on ResNet-50's stride-1 3×3 convs (batch `ZENRT_TIMING_N`,
/// default 1 and 8; 1 thread): `cargo test --release -p zenrt-core winograd_phase_timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn winograd_phase_timing() {
    use std::sync::atomic::Ordering;
    let ns: Vec<usize> = match std::env::var("ZENRT_TIMING_N").ok().and_then(|v| v.parse().ok()) {
        Some(n) => vec![n],
        None => vec![1, 8],
    };
    let mut rng = Lcg(3);
    // Scratch from a buffer pool, as in a session (fresh pages on every call otherwise).
    let bufs = crate::memory::BufferPool::new();
    let _scope = bufs.enter();
    for n in ns {
        for (c, hw) in [(64usize, 56usize), (128, 28), (256, 14), (512, 7)] {
            let (xv, wv, bv, cs) = case_2d(&mut rng, [n, c, hw, hw], [c, c, 3, 3], 1, 1, [1; 4]);
            let (xf, wf, bf) = (to_f32(&xv), to_f32(&wv), to_f32(&bv));
            for tile in [winograd::Tile::F4, winograd::Tile::F2] {
                let wt = WinogradWeights::new(&wf, c, c, tile, kernels::best()).unwrap();
                let mut y = vec![0f32; cs.out_shape().iter().product()];
                let mut best = [f64::MAX; 4];
                for _ in 0..12 {
                    for p in &winograd::PHASE_NS {
                        p.store(0, Ordering::Relaxed);
                    }
                    let t = std::time::Instant::now();
                    winograd::winograd_f32(&xf, &wt, Some(&bf), &cs, Activation::Relu, &mut y).unwrap();
                    let total = t.elapsed().as_secs_f64() * 1e3;
                    let ph: Vec<f64> =
                        winograd::PHASE_NS.iter().map(|p| p.load(Ordering::Relaxed) as f64 / 1e6).collect();
                    if total < best[3] {
                        best = [ph[0], ph[1], ph[2], total];
                    }
                }
                println!(
                    "n{n} {c:>3}@{hw:<2} F{}: in {:.3}  gemm {:.3}  out {:.3}  total {:.3} ms",
                    tile.m(),
                    best[0],
                    best[1],
                    best[2],
                    best[3]
                );
            }
        }
    }
}

#[test]
fn pad_plane_matches_reference_at_strides_1_to_4() {
    // Every element of the padded, phase-split copy against its definition: padded row r, phase p,
    // column j holds x(r - top, j·s + p - left) (zero outside the plane), for odd sizes, pads of
    // -1..3 and the Winograd (3×3 at stride 2 / 4 → α = 4 / 6 windows) and depthwise geometries.
    use super::padded::{pad_plane, Padded};
    let mut rng = Lcg(31);
    for case in 0..300 {
        let (h, w) = (1 + rng.below(40), 1 + rng.below(70));
        let s = 1 + rng.below(4);
        let k = 1 + rng.below(7);
        let pads = [rng.below(5) as i64 - 1, rng.below(5) as i64 - 1];
        let out = [1 + rng.below(20), 1 + rng.below(24)];
        let pd = Padded::new([k, k], [s, s], out);
        let src: Vec<f32> = (0..h * w).map(|i| i as f32 + 1.0).collect();
        let mut dst = vec![f32::NAN; pd.len()];
        pad_plane(&src, [h, w], pads, pd, &mut dst);
        for r in 0..pd.rows {
            for p in 0..s {
                for j in 0..pd.phase_len {
                    let (iy, ix) = (r as i64 - pads[0], (j * s + p) as i64 - pads[1]);
                    let want = if iy >= 0 && iy < h as i64 && ix >= 0 && ix < w as i64 {
                        src[iy as usize * w + ix as usize]
                    } else {
                        0.0
                    };
                    let got = dst[r * pd.row_len + p * pd.phase_len + j];
                    assert_eq!(got, want, "case {case}: {h}x{w} s{s} k{k} pads {pads:?} at ({r}, {p}, {j})");
                }
            }
        }
    }
}
