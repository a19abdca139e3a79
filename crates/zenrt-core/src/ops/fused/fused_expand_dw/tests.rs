//! The fused expand+depthwise op against a float64 reference made of the naive direct-loop
//! convolution (`conv::tests::naive`, no fast kernel involved) and `Activation::eval`: random
//! shapes, kernels 3/5/7 (and 2/4, which take the unfused path), strides 1/2, asymmetric pads,
//! activations on both stages, biases present or absent, band budgets from one band per plane
//! down to the 4-row minimum, one and two threads (split by images and by channels).

use super::*;
use crate::ops::nn::common::{AutoPad, Geometry};
use crate::ops::nn::conv::tests::{naive, Lcg};
use crate::ops::nn::conv_kernels::expand_dw::expand_dw_with;
use crate::ops::ExecCtx;

struct NoCtx;
impl ExecCtx for NoCtx {
    fn run_subgraph_values(&self, _: &Arc<crate::Graph>, _: Vec<crate::Value>) -> Result<Vec<crate::Value>> {
        unreachable!()
    }
}

const ACTS: [Activation; 5] =
    [Activation::None, Activation::Relu, Activation::Clip(0.0, 6.0), Activation::Clip(-0.3, 0.4), Activation::Silu];

struct Case {
    xs: [usize; 4],
    e: usize,
    op: FusedExpandDepthwise,
    x: Vec<f64>,
    we: Vec<f64>,
    be: Option<Vec<f64>>,
    wd: Vec<f64>,
    bd: Option<Vec<f64>>,
    k: usize,
}

fn random_case(rng: &mut Lcg) -> Case {
    let k = [3, 3, 5, 7, 2, 4][rng.below(6)];
    let s = 1 + rng.below(2) as i64;
    let wide = rng.below(4) == 0;
    let (n, c, e) = (1 + rng.below(3), 1 + rng.below(12), 1 + rng.below(if wide { 400 } else { 40 }));
    let (h, w) = (k.max(1 + rng.below(30)), k.max(1 + rng.below(40)));
    let pads: Vec<i64> = (0..4).map(|_| rng.below(k as u64 / 2 + 1) as i64).collect();
    let op = FusedExpandDepthwise {
        win: Window {
            kernel_shape: Some(vec![k as i64; 2]),
            strides: Some(vec![s; 2]),
            dilations: None,
            pads: Some(pads),
            auto_pad: AutoPad::NotSet,
            ceil_mode: false,
        },
        group: e,
        act_expand: ACTS[rng.below(ACTS.len() as u64)],
        act: ACTS[rng.below(ACTS.len() as u64)],
        packed: None,
    };
    let mut v = |len: usize| (0..len).map(|_| rng.float()).collect::<Vec<f64>>();
    let (x, we, be, wd, bd) = (v(n * c * h * w), v(e * c), v(e), v(e * k * k), v(e));
    let (be, bd) = ((rng.below(3) > 0).then_some(be), (rng.below(3) > 0).then_some(bd));
    Case { xs: [n, c, h, w], e, op, x, we, be, wd, bd, k }
}

impl Case {
    /// `act(dw(act_e(We·x + be)) + bd)` in f64 through the naive convolution.
    fn reference(&self) -> (Vec<usize>, Vec<f64>) {
        let [n, c, h, w] = self.xs;
        let one = Geometry {
            kernel: vec![1, 1],
            strides: vec![1, 1],
            dilations: vec![1, 1],
            pads_begin: vec![0, 0],
            pads_end: vec![0, 0],
            out: vec![h, w],
        };
        let mut t = naive(&self.x, &self.xs, &self.we, &[self.e, c, 1, 1], self.be.as_deref(), 1, &one);
        t.iter_mut().for_each(|v| *v = self.op.act_expand.eval(*v));
        let ts = [n, self.e, h, w];
        let ws = [self.e, 1, self.k, self.k];
        let geo = self.op.win.resolve(&[h, w], Some(&ws[2..])).unwrap();
        let mut y = naive(&t, &ts, &self.wd, &ws, self.bd.as_deref(), self.e, &geo);
        y.iter_mut().for_each(|v| *v = self.op.act.eval(*v));
        (vec![n, self.e, geo.out[0], geo.out[1]], y)
    }

    fn tensors(&self) -> Vec<Option<Tensor>> {
        let t = |shape: Vec<usize>, v: &[f64]| Tensor::from_vec(shape, v.iter().map(|&x| x as f32).collect()).unwrap();
        let c = self.xs[1];
        vec![
            Some(t(self.xs.to_vec(), &self.x)),
            Some(t(vec![self.e, c, 1, 1], &self.we)),
            self.be.as_ref().map(|b| t(vec![self.e], b)),
            Some(t(vec![self.e, 1, self.k, self.k], &self.wd)),
            self.bd.as_ref().map(|b| t(vec![self.e], b)),
        ]
    }

    fn check(&self, what: &str, shape: &[usize], got: &[f64]) {
        let (want_shape, want) = self.reference();
        assert_eq!(shape, want_shape, "{what}: shape");
        // Expansion sums C products, the depthwise k·k of them (values within ±1).
        let tol = 2e-6 * ((self.xs[1] + 1) * (self.k * self.k + 1)) as f64;
        for (i, (a, b)) in want.iter().zip(got).enumerate() {
            assert!(
                (a - b).abs() <= tol,
                "{what}: xs {:?} e {} k {} {:?} at {i}: {b} vs {a}",
                self.xs,
                self.e,
                self.k,
                self.op
            );
        }
    }
}

/// Through the op (default band size; fused or reference path as the geometry decides) and,
/// where the fused kernel applies, with band budgets that cut the plane into many bands.
fn run_cases(seed: u64, count: usize) {
    let mut rng = Lcg(seed);
    for case in 0..count {
        let cs = random_case(&mut rng);
        let ts = cs.tensors();
        let inputs: Vec<Option<&Tensor>> = ts.iter().map(|t| t.as_ref()).collect();
        let y = cs.op.run(&NoCtx, &inputs).unwrap().remove(0);
        cs.check(&format!("case {case} op"), y.shape(), &y.to_f64_vec());
        // With the expansion weights packed at plan time.
        let prepared = cs.op.prepare(&[None, inputs[1]]).unwrap().unwrap();
        let y = prepared.run(&NoCtx, &inputs).unwrap().remove(0);
        cs.check(&format!("case {case} prepared op"), y.shape(), &y.to_f64_vec());
        let [n, c, h, w] = cs.xs;
        let shape = ConvShape::new(&[n, cs.e, h, w], &[cs.e, 1, cs.k, cs.k], &cs.op.win, cs.e).unwrap();
        if !expand_dw_applies(&shape) {
            assert!(!matches!(cs.k, 3 | 5 | 7), "the fused kernel should take k = {}", cs.k);
            continue;
        }
        fn f(v: &Option<Tensor>) -> Option<&[f32]> {
            v.as_ref().map(|t| t.as_slice::<f32>().unwrap())
        }
        let we = ExpandWeights::new(f(&ts[1]).unwrap(), cs.e, c).unwrap();
        let p = ExpandDw {
            x: f(&ts[0]).unwrap(),
            we: &we,
            be: f(&ts[2]),
            act_e: cs.op.act_expand,
            wd: f(&ts[3]).unwrap(),
            bd: f(&ts[4]),
            act_d: cs.op.act,
        };
        for budget in [1, 3000, 1 << 20] {
            let mut y = vec![f32::NAN; shape.out_shape().iter().product()];
            expand_dw_with(&p, &shape, &mut y, budget).unwrap();
            let got: Vec<f64> = y.iter().map(|&v| v as f64).collect();
            cs.check(&format!("case {case} budget {budget}"), &shape.out_shape(), &got);
        }
    }
}

#[test]
fn matches_f64_reference() {
    run_cases(11, 120);
}

#[test]
fn matches_f64_reference_two_threads() {
    let pool = crate::threads::pool(2).unwrap();
    crate::threads::run_in(Some(&pool), || run_cases(23, 80));
}

#[test]
fn f64_inputs_take_the_reference_path() {
    let cs = random_case(&mut Lcg(3));
    let t = |shape: Vec<usize>, v: &[f64]| Tensor::from_vec(shape, v.to_vec()).unwrap();
    let c = cs.xs[1];
    let ts = [
        Some(t(cs.xs.to_vec(), &cs.x)),
        Some(t(vec![cs.e, c, 1, 1], &cs.we)),
        cs.be.as_ref().map(|b| t(vec![cs.e], b)),
        Some(t(vec![cs.e, 1, cs.k, cs.k], &cs.wd)),
        cs.bd.as_ref().map(|b| t(vec![cs.e], b)),
    ];
    let inputs: Vec<Option<&Tensor>> = ts.iter().map(|t| t.as_ref()).collect();
    let y = cs.op.run(&NoCtx, &inputs).unwrap().remove(0);
    assert_eq!(y.dtype(), DType::F64);
    cs.check("f64", y.shape(), &y.to_f64_vec());
}
