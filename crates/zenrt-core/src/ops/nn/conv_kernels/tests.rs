//! The f32 fast path against the float64 naive convolution: random shapes (1-D..3-D, groups,
//! depthwise with multipliers, 1×1, strides, dilations, pads), raw and pre-packed weights,
//! fused activations, one and two threads.

use super::*;
use crate::ops::nn::common::{AutoPad, Window};
use crate::ops::nn::conv::tests::{naive, Lcg};

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
        variants.push(ConvWeights::Packed(p));
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
    let got =
        crate::threads::run_in(Some(&pool), || conv_f32(&xf, ConvWeights::Packed(&p), None, &cs, Activation::None))
            .unwrap();
    for (a, b) in want.iter().zip(&got) {
        assert!((a - *b as f64).abs() < 1e-3, "{a} vs {b}");
    }
}
