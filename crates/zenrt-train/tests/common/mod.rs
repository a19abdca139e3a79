//! Finite-difference gradient checking for the autodiff tests (included with `mod`).
//!
//! A forward graph is built in float64 from random inputs; the scalar objective is
//! `Σ y ⊙ R` with a fixed random `R` (so every output element gets a different weight). The
//! backward graph's gradients (after the default passes, as training runs them) are compared
//! with central differences `(L(x+h) − L(x−h)) / 2h`, h = 1e-6, per element.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Arc;
use zenrt_core::passes::{optimize, PassOptions};
use zenrt_core::{Attr, DType, Dim, Graph, Plan, ReferenceBackend, Result, Tensor, ValueInfo};
use zenrt_train::autodiff::builder::Builder;
use zenrt_train::autodiff::{backward, grad_of};

/// Seeded generator (splitmix64).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
    /// Integer in [lo, hi].
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    pub fn tensor(&mut self, shape: &[usize], lo: f64, hi: f64) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec(shape.to_vec(), (0..n).map(|_| self.uniform(lo, hi)).collect::<Vec<f64>>()).unwrap()
    }
    /// Values with |x| in [0.2, 1.5] and random sign (away from kinks at 0).
    pub fn away_from_zero(&mut self, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|_| {
                let m = self.uniform(0.2, 1.5);
                if self.next().is_multiple_of(2) {
                    m
                } else {
                    -m
                }
            })
            .collect();
        Tensor::from_vec(shape.to_vec(), v).unwrap()
    }
}

/// One graph input for a check.
pub struct In {
    pub name: String,
    pub value: Tensor,
    /// Differentiate with respect to it.
    pub diff: bool,
}

pub fn diff(name: &str, value: Tensor) -> In {
    In { name: name.into(), value, diff: true }
}
pub fn fixed(name: &str, value: Tensor) -> In {
    In { name: name.into(), value, diff: false }
}

fn known(shape: &[usize]) -> Vec<Dim> {
    shape.iter().map(|&d| Dim::Known(d)).collect()
}

/// A graph with the given inputs (shapes declared), built by `body`, whose output is `y`.
pub fn graph_of(inputs: &[In], body: &dyn Fn(&mut Builder) -> Result<String>) -> Result<(Graph, String)> {
    let mut g = Graph::default();
    for i in inputs {
        g.inputs.push(ValueInfo::new(i.name.clone(), Some(i.value.dtype()), Some(known(i.value.shape()))));
    }
    let y = {
        let mut b = Builder::new(&mut g, "fwd");
        body(&mut b)?
    };
    Ok((g, y))
}

/// Runs the finite-difference check with tolerance `tol` (|analytic − numeric| ≤ tol·(1 + |numeric|)).
/// Returns the largest error seen.
pub fn check_with(inputs: Vec<In>, tol: f64, seed: u64, body: &dyn Fn(&mut Builder) -> Result<String>) -> f64 {
    let (mut g, y) = graph_of(&inputs, body).expect("build forward graph");
    // Objective: L = Σ y·R, R random fixed, same shape as y (found by running the forward).
    let feeds: Vec<(String, Tensor)> = inputs.iter().map(|i| (i.name.clone(), i.value.clone())).collect();
    let mut probe = g.clone();
    probe.outputs = vec![ValueInfo::new(y.clone(), None, None)];
    let yv = Plan::compile(Arc::new(probe), &ReferenceBackend, &HashSet::new())
        .and_then(|p| p.run(feeds.clone()))
        .expect("run forward")
        .remove(0);
    let mut rng = Rng(seed ^ 0x5eed);
    let r = rng.tensor(yv.shape(), -1.0, 1.0).cast(yv.dtype()).unwrap();
    let loss = {
        let mut b = Builder::new(&mut g, "obj");
        let rn = b.constant(r);
        let m = b.mul(&y, &rn).unwrap();
        b.node("ReduceSum", &[&m], vec![("keepdims", Attr::Int(0))]).unwrap()
    };
    g.outputs = vec![ValueInfo::new(loss.clone(), None, None)];
    let wrt: Vec<String> = inputs.iter().filter(|i| i.diff).map(|i| i.name.clone()).collect();
    let mut bg = backward(&g, &loss, &wrt).expect("backward");
    optimize(&mut bg, &PassOptions::default()).expect("passes");
    for (k, w) in wrt.iter().enumerate() {
        assert_eq!(bg.outputs[k + 1].name, grad_of(w));
    }
    let bplan = Plan::compile(Arc::new(bg), &ReferenceBackend, &HashSet::new()).expect("compile backward");
    let outs = bplan.run(feeds.clone()).expect("run backward");
    let fplan = Plan::compile(Arc::new(g), &ReferenceBackend, &HashSet::new()).expect("compile forward");
    let f = |feeds: Vec<(String, Tensor)>| fplan.run(feeds).expect("run forward").remove(0).to_f64_vec()[0];
    assert!((outs[0].to_f64_vec()[0] - f(feeds.clone())).abs() < 1e-9, "backward graph's loss differs from forward");
    let h = 1e-6;
    let mut worst = 0.0f64;
    for (k, w) in wrt.iter().enumerate() {
        let grad = &outs[k + 1];
        let idx = inputs.iter().position(|i| &i.name == w).unwrap();
        let base = inputs[idx].value.to_f64_vec();
        assert_eq!(grad.shape(), inputs[idx].value.shape(), "gradient of {w} has the wrong shape");
        let gv = grad.to_f64_vec();
        for e in 0..base.len() {
            let at = |delta: f64| {
                let mut v = base.clone();
                v[e] += delta;
                let t = Tensor::from_vec(inputs[idx].value.shape().to_vec(), v).unwrap();
                let mut fd = feeds.clone();
                fd[idx].1 = t;
                f(fd)
            };
            let num = (at(h) - at(-h)) / (2.0 * h);
            let err = (gv[e] - num).abs() / (1.0 + num.abs());
            worst = worst.max(err);
            assert!(
                err <= tol,
                "d/d{w}[{e}]: analytic {} vs numeric {num} (rel err {err:e}, shapes {:?})",
                gv[e],
                inputs.iter().map(|i| i.value.shape().to_vec()).collect::<Vec<_>>()
            );
        }
    }
    worst
}

/// [`check_with`] at the default tolerance 1e-6.
pub fn check(inputs: Vec<In>, seed: u64, body: &dyn Fn(&mut Builder) -> Result<String>) -> f64 {
    check_with(inputs, 1e-6, seed, body)
}

/// int64 tensor.
pub fn i64s(shape: &[usize], v: Vec<i64>) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

pub fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

pub const F64: DType = DType::F64;
