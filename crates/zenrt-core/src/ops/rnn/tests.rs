//! Checks LSTM/GRU/RNN against a naive float64 implementation written independently (one batch
//! entry and one time step at a time, explicit dot products), with bidirectional processing,
//! per-batch sequence lengths, initial states, peepholes and both layouts.
#![allow(clippy::needless_range_loop, clippy::useless_vec)]

use crate::ops::{BuildCtx, ExecCtx, Op};
use crate::{Attr, Attrs, Graph, Result, Tensor, Value};
use std::sync::Arc;

struct NoSub;
impl ExecCtx for NoSub {
    fn run_subgraph_values(&self, _: &Arc<Graph>, _: Vec<Value>) -> Result<Vec<Value>> {
        unreachable!()
    }
}

struct Rng(u64);
impl Rng {
    fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| {
                self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }
}

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn dot(w: &[f64], row: usize, v: &[f64]) -> f64 {
    let n = v.len();
    (0..n).map(|k| w[row * n + k] * v[k]).sum()
}

/// (seq, batch, input, hidden).
type Dims = (usize, usize, usize, usize);

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Lstm,
    Gru { lbr: bool },
    Rnn,
}

/// Naive reference; returns (Y [seq,dirs,batch,h], Y_h [dirs,batch,h], Y_c [dirs,batch,h]) in layout 0.
#[allow(clippy::too_many_arguments)]
fn naive(
    kind: Kind,
    dirs: usize,
    reverse_only: bool,
    seq: usize,
    batch: usize,
    inp: usize,
    hs: usize,
    x: &[f64],
    w: &[f64],
    r: &[f64],
    bias: &[f64],
    lens: &[usize],
    h0: &[f64],
    c0: &[f64],
    p: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let g = match kind {
        Kind::Lstm => 4,
        Kind::Gru { .. } => 3,
        Kind::Rnn => 1,
    };
    let mut y = vec![0.0; seq * dirs * batch * hs];
    let mut yh = vec![0.0; dirs * batch * hs];
    let mut yc = vec![0.0; dirs * batch * hs];
    for d in 0..dirs {
        let rev = reverse_only || d == 1;
        let wd = &w[d * g * hs * inp..(d + 1) * g * hs * inp];
        let rd = &r[d * g * hs * hs..(d + 1) * g * hs * hs];
        let wb = &bias[d * 2 * g * hs..d * 2 * g * hs + g * hs];
        let rb = &bias[d * 2 * g * hs + g * hs..(d + 1) * 2 * g * hs];
        for b in 0..batch {
            let mut h: Vec<f64> = h0[(d * batch + b) * hs..(d * batch + b + 1) * hs].to_vec();
            let mut c: Vec<f64> = c0[(d * batch + b) * hs..(d * batch + b + 1) * hs].to_vec();
            let order: Vec<usize> = if rev { (0..lens[b]).rev().collect() } else { (0..lens[b]).collect() };
            for t in order {
                let xt = &x[(t * batch + b) * inp..(t * batch + b + 1) * inp];
                let pre = |k: usize, j: usize, hv: &[f64]| {
                    dot(wd, k * hs + j, xt) + wb[k * hs + j] + dot(rd, k * hs + j, hv) + rb[k * hs + j]
                };
                let mut hn = vec![0.0; hs];
                match kind {
                    Kind::Rnn => {
                        for j in 0..hs {
                            hn[j] = pre(0, j, &h).tanh();
                        }
                    }
                    Kind::Lstm => {
                        let pd = &p[d * 3 * hs..];
                        let mut cn = vec![0.0; hs];
                        for j in 0..hs {
                            let i = sig(pre(0, j, &h) + pd[j] * c[j]);
                            let f = sig(pre(2, j, &h) + pd[2 * hs + j] * c[j]);
                            let cc = pre(3, j, &h).tanh();
                            cn[j] = f * c[j] + i * cc;
                            let o = sig(pre(1, j, &h) + pd[hs + j] * cn[j]);
                            hn[j] = o * cn[j].tanh();
                        }
                        c = cn;
                    }
                    Kind::Gru { lbr } => {
                        let z: Vec<f64> = (0..hs).map(|j| sig(pre(0, j, &h))).collect();
                        let rr: Vec<f64> = (0..hs).map(|j| sig(pre(1, j, &h))).collect();
                        let rh: Vec<f64> = (0..hs).map(|j| rr[j] * h[j]).collect();
                        for j in 0..hs {
                            let xpart = dot(wd, 2 * hs + j, xt) + wb[2 * hs + j];
                            let ht = if lbr {
                                (xpart + rr[j] * (dot(rd, 2 * hs + j, &h) + rb[2 * hs + j])).tanh()
                            } else {
                                (xpart + dot(rd, 2 * hs + j, &rh) + rb[2 * hs + j]).tanh()
                            };
                            hn[j] = (1.0 - z[j]) * ht + z[j] * h[j];
                        }
                    }
                }
                h = hn;
                y[((t * dirs + d) * batch + b) * hs..((t * dirs + d) * batch + b + 1) * hs].copy_from_slice(&h);
            }
            yh[(d * batch + b) * hs..(d * batch + b + 1) * hs].copy_from_slice(&h);
            yc[(d * batch + b) * hs..(d * batch + b + 1) * hs].copy_from_slice(&c);
        }
    }
    (y, yh, yc)
}

fn transpose01(v: &[f64], a: usize, b: usize, c: usize) -> Vec<f64> {
    super::common::swap01(v, a, b, c)
}

fn check(kind: Kind, direction: &str, layout: i64, dtype: crate::DType, (seq, batch, inp, hs): Dims) {
    let dirs = if direction == "bidirectional" { 2 } else { 1 };
    let g = match kind {
        Kind::Lstm => 4,
        Kind::Gru { .. } => 3,
        Kind::Rnn => 1,
    };
    let mut rng = Rng(42);
    let x = rng.vec(seq * batch * inp);
    let w = rng.vec(dirs * g * hs * inp);
    let r = rng.vec(dirs * g * hs * hs);
    let bias = rng.vec(dirs * 2 * g * hs);
    let h0 = rng.vec(dirs * batch * hs);
    let c0 = rng.vec(dirs * batch * hs);
    let p = rng.vec(dirs * 3 * hs);
    // Entry 1 stops after 2 steps (checked below), the others run full or one short.
    let lens: Vec<usize> = (0..batch).map(|i| [seq, 2, seq - 1][i % 3]).collect();
    let (ey, eyh, eyc) =
        naive(kind, dirs, direction == "reverse", seq, batch, inp, hs, &x, &w, &r, &bias, &lens, &h0, &c0, &p);

    let mut attrs = Attrs::new();
    attrs.insert("hidden_size".into(), Attr::Int(hs as i64));
    attrs.insert("direction".into(), Attr::String(direction.as_bytes().to_vec()));
    attrs.insert("layout".into(), Attr::Int(layout));
    if let Kind::Gru { lbr: true } = kind {
        attrs.insert("linear_before_reset".into(), Attr::Int(1));
    }
    let cx = BuildCtx { node_name: "n", op_type: "", attrs: &attrs, opset: 14, n_inputs: 8, n_outputs: 3 };
    let op: Arc<dyn Op> = match kind {
        Kind::Lstm => super::lstm::build(&cx).unwrap(),
        Kind::Gru { .. } => super::gru::build(&cx).unwrap(),
        Kind::Rnn => super::simple_rnn::build(&cx).unwrap(),
    };
    let t = |shape: Vec<usize>, v: Vec<f64>| Tensor::from_vec(shape, v).unwrap().cast(dtype).unwrap();
    let (xs, xv) = if layout == 0 {
        (vec![seq, batch, inp], x.clone())
    } else {
        (vec![batch, seq, inp], transpose01(&x, seq, batch, inp))
    };
    let st = |v: &[f64]| {
        if layout == 0 {
            t(vec![dirs, batch, hs], v.to_vec())
        } else {
            t(vec![batch, dirs, hs], transpose01(v, dirs, batch, hs))
        }
    };
    let inputs = vec![
        Some(t(xs, xv)),
        Some(t(vec![dirs, g * hs, inp], w)),
        Some(t(vec![dirs, g * hs, hs], r)),
        Some(t(vec![dirs, 2 * g * hs], bias)),
        Some(Tensor::from_vec(vec![batch], lens.iter().map(|&l| l as i32).collect()).unwrap()),
        Some(st(&h0)),
        if kind == Kind::Lstm { Some(st(&c0)) } else { None },
        if kind == Kind::Lstm { Some(t(vec![dirs, 3 * hs], p)) } else { None },
    ];
    let refs: Vec<Option<&Tensor>> = inputs.iter().map(|t| t.as_ref()).collect();
    // The op as built, and with W and R packed at plan time (f32 LSTM/GRU).
    let prepared = op.prepare(&[None, refs[1], refs[2]]).unwrap();
    assert_eq!(prepared.is_some(), dtype == crate::DType::F32 && kind != Kind::Rnn);
    // Each serially and over a 3-thread pool (directions and batch ranges as separate slices).
    let pool = crate::threads::pool(3);
    let runs = std::iter::once(op).chain(prepared).flat_map(|op| [(op.clone(), None), (op, pool.as_deref())]);
    for (op, pool) in runs {
        let out = crate::threads::run_in(pool, || op.run(&NoSub, &refs)).unwrap();
        let tol = if dtype == crate::DType::F64 { 1e-12 } else { 1e-5 };
        let cmp = |got: &Tensor, want: &[f64], what: &str| {
            assert_eq!(got.dtype(), dtype);
            let g = got.to_f64_vec();
            assert_eq!(g.len(), want.len(), "{what} length");
            for (i, (a, b)) in g.iter().zip(want).enumerate() {
                assert!((a - b).abs() <= tol, "{direction} layout {layout} {what}[{i}]: got {a}, want {b}");
            }
        };
        if layout == 0 {
            assert_eq!(out[0].shape(), [seq, dirs, batch, hs]);
            cmp(&out[0], &ey, "Y");
            cmp(&out[1], &eyh, "Y_h");
            if kind == Kind::Lstm {
                cmp(&out[2], &eyc, "Y_c");
            }
        } else {
            // Y: [seq, dirs, batch, h] → [batch, seq, dirs, h]
            let mut yb = vec![];
            for b in 0..batch {
                for s in 0..seq {
                    for d in 0..dirs {
                        let o = ((s * dirs + d) * batch + b) * hs;
                        yb.extend_from_slice(&ey[o..o + hs]);
                    }
                }
            }
            assert_eq!(out[0].shape(), [batch, seq, dirs, hs]);
            cmp(&out[0], &yb, "Y");
            cmp(&out[1], &transpose01(&eyh, dirs, batch, hs), "Y_h");
            if kind == Kind::Lstm {
                cmp(&out[2], &transpose01(&eyc, dirs, batch, hs), "Y_c");
            }
        }
        // Outputs beyond a sequence's length are zero (batch entry 1 has length 2).
        if layout == 0 {
            let y = out[0].to_f64_vec();
            for s in 2..seq {
                for d in 0..dirs {
                    let o = ((s * dirs + d) * batch + 1) * hs;
                    assert!(y[o..o + hs].iter().all(|&v| v == 0.0));
                }
            }
        }
    }
}

#[test]
fn matches_naive_reference() {
    use crate::DType::*;
    for kind in [Kind::Lstm, Kind::Gru { lbr: false }, Kind::Gru { lbr: true }, Kind::Rnn] {
        for dir in ["forward", "reverse", "bidirectional"] {
            for layout in [0, 1] {
                for dt in [F64, F32] {
                    check(kind, dir, layout, dt, (5, 3, 4, 3));
                }
                // Odd batch (a 4-row tile and a 1-row tile) and a hidden size of one 8-lane
                // vector plus a 3-lane tail in the fused f32 cells.
                check(kind, dir, layout, F32, (4, 5, 7, 11));
                // Batch 9 (an 8-row AVX-512 tile and a 1-row one) and hidden 27 (one 16-lane
                // vector, one 8-lane vector and a 3-lane tail; gates 4·27 = 108 columns: six
                // full 16-column panels and a narrow one).
                check(kind, dir, layout, F32, (3, 9, 5, 27));
            }
        }
    }
}

#[test]
fn activations_and_alpha_consumption() {
    use super::common::{Act, RnnAttrs};
    let mut attrs = Attrs::new();
    attrs.insert("direction".into(), Attr::String(b"bidirectional".to_vec()));
    attrs.insert(
        "activations".into(),
        Attr::Strings(
            ["LeakyRelu", "Tanh", "HardSigmoid", "ScaledTanh"].iter().map(|s| s.as_bytes().to_vec()).collect(),
        ),
    );
    attrs.insert("activation_alpha".into(), Attr::Floats(vec![0.5, 0.3, 2.0]));
    attrs.insert("activation_beta".into(), Attr::Floats(vec![0.6]));
    let cx = BuildCtx { node_name: "n", op_type: "GRU", attrs: &attrs, opset: 14, n_inputs: 3, n_outputs: 1 };
    let a = RnnAttrs::parse(&cx, &["Sigmoid", "Tanh"]).unwrap();
    assert_eq!(
        a.acts,
        vec![
            vec![Act::LeakyRelu(0.5), Act::Tanh],
            vec![Act::HardSigmoid(0.3f32 as f64, 0.6f32 as f64), Act::ScaledTanh(2.0, 1.0)]
        ]
    );
    assert!((Act::Softplus.apply(1000.0) - 1000.0).abs() < 1e-9);
    assert!((Act::Softplus.apply(0.0) - 2f64.ln()).abs() < 1e-12);
    assert_eq!(Act::ThresholdedRelu(1.0).apply(0.5), 0.0);
}

#[test]
fn bad_sequence_lens_is_an_error() {
    let mut attrs = Attrs::new();
    attrs.insert("hidden_size".into(), Attr::Int(1));
    let cx = BuildCtx { node_name: "n", op_type: "RNN", attrs: &attrs, opset: 14, n_inputs: 5, n_outputs: 2 };
    let op = super::simple_rnn::build(&cx).unwrap();
    let x = Tensor::from_vec(vec![2, 1, 1], vec![1f32, 2.]).unwrap();
    let w = Tensor::from_vec(vec![1, 1, 1], vec![1f32]).unwrap();
    let r = Tensor::from_vec(vec![1, 1, 1], vec![1f32]).unwrap();
    let l = Tensor::from_vec(vec![1], vec![3i32]).unwrap();
    assert!(op.run(&NoSub, &[Some(&x), Some(&w), Some(&r), None, Some(&l)]).is_err());
}

/// The f32 fast paths against the f64 generic path with clip, input_forget and peepholes
/// (attributes the naive reference does not cover): with non-default activations (the per-gate
/// path) and with the default ones (the fused cells; odd batch, hidden 11 = 8 lanes + a tail).
#[test]
fn f32_paths_match_f64_with_clip_and_custom_activations() {
    let mut rng = Rng(99);
    for custom in [true, false] {
        for (op_type, g) in [("LSTM", 4), ("GRU", 3), ("GRU-lbr", 3)] {
            f32_vs_f64(&mut rng, op_type, g, custom);
        }
    }
}

fn f32_vs_f64(rng: &mut Rng, op_type: &str, g: usize, custom: bool) {
    let (seq, batch, inp, hs) = if custom { (4, 3, 5, 6) } else { (4, 5, 5, 11) };
    {
        let dirs = 2;
        let mut attrs = Attrs::new();
        attrs.insert("direction".into(), Attr::String(b"bidirectional".to_vec()));
        attrs.insert("clip".into(), Attr::Float(0.7));
        let acts: &[&[u8]] = if g == 4 {
            &[b"HardSigmoid", b"Softsign", b"Elu", b"Sigmoid", b"ScaledTanh", b"Softplus"]
        } else {
            &[b"HardSigmoid", b"LeakyRelu", b"Sigmoid", b"Tanh"]
        };
        if custom {
            attrs.insert("activations".into(), Attr::Strings(acts.iter().map(|a| a.to_vec()).collect()));
        }
        attrs.insert("activation_alpha".into(), Attr::Floats(vec![0.3, 0.9, 0.5]));
        attrs.insert("activation_beta".into(), Attr::Floats(vec![0.4, 1.5]));
        if g == 4 {
            attrs.insert("input_forget".into(), Attr::Int(1));
        }
        if op_type == "GRU-lbr" {
            attrs.insert("linear_before_reset".into(), Attr::Int(1));
        }
        let cx = BuildCtx { node_name: "n", op_type: "", attrs: &attrs, opset: 14, n_inputs: 8, n_outputs: 3 };
        let op: Arc<dyn Op> = if g == 4 { super::lstm::build(&cx).unwrap() } else { super::gru::build(&cx).unwrap() };
        let mk = |shape: Vec<usize>, v: Vec<f64>| Tensor::from_vec(shape, v).unwrap();
        let mut inputs = vec![
            Some(mk(vec![seq, batch, inp], rng.vec(seq * batch * inp))),
            Some(mk(vec![dirs, g * hs, inp], rng.vec(dirs * g * hs * inp))),
            Some(mk(vec![dirs, g * hs, hs], rng.vec(dirs * g * hs * hs))),
            Some(mk(vec![dirs, 2 * g * hs], rng.vec(dirs * 2 * g * hs))),
            None,
            Some(mk(vec![dirs, batch, hs], rng.vec(dirs * batch * hs))),
        ];
        if g == 4 {
            inputs.push(Some(mk(vec![dirs, batch, hs], rng.vec(dirs * batch * hs))));
            inputs.push(Some(mk(vec![dirs, 3 * hs], rng.vec(dirs * 3 * hs))));
        }
        // Round the inputs to f32 first so both paths see the same values.
        let inputs: Vec<Option<Tensor>> =
            inputs.into_iter().map(|t| t.map(|t| t.cast(crate::DType::F32).unwrap())).collect();
        let as64: Vec<Option<Tensor>> =
            inputs.iter().map(|t| t.as_ref().map(|t| t.cast(crate::DType::F64).unwrap())).collect();
        let r32: Vec<Option<&Tensor>> = inputs.iter().map(|t| t.as_ref()).collect();
        let r64: Vec<Option<&Tensor>> = as64.iter().map(|t| t.as_ref()).collect();
        let got = op.run(&NoSub, &r32).unwrap();
        let want = op.run(&NoSub, &r64).unwrap();
        let packed = op.prepare(&[None, r32[1], r32[2]]).unwrap().expect("f32 weights are packed");
        let pool = crate::threads::pool(2);
        let got_packed = crate::threads::run_in(pool.as_deref(), || packed.run(&NoSub, &r32)).unwrap();
        for (gt, wt) in got.iter().chain(&got_packed).zip(want.iter().chain(&want)) {
            assert_eq!(gt.shape(), wt.shape());
            for (a, b) in gt.to_f64_vec().iter().zip(wt.to_f64_vec()) {
                assert!((a - b).abs() <= 2e-5, "{op_type} (custom activations: {custom}): {a} vs {b}");
            }
        }
    }
}

/// The panel GEMM against float64 dot products: row counts around the 4-row tile, k and n
/// around the 16-column panel, with and without a start row, strided, and split over a pool.
#[test]
fn panel_matmul_matches_f64() {
    use super::panels::PanelMat;
    let mut rng = Rng(5);
    let pool = crate::threads::pool(2);
    let cases = [
        (1, 1, 1),
        (3, 7, 13),
        (5, 64, 256),
        (8, 64, 44),
        (13, 65, 17),
        (130, 33, 48),
        (9, 0, 5),
        // AVX-512 tiles: 8 × 2 panels, 4 × 4, groups of 4 then 3 panels, narrow last panels.
        (8, 64, 256),
        (4, 64, 256),
        (1, 64, 112),
        (2, 5, 120),
        (6, 3, 80),
        (17, 9, 200),
    ];
    for &(m, k, n) in &cases {
        let a: Vec<f32> = rng.vec(m * (k + 2)).iter().map(|&v| v as f32).collect();
        let wt: Vec<f32> = rng.vec(n * k).iter().map(|&v| v as f32).collect();
        let init: Vec<f32> = rng.vec(n).iter().map(|&v| v as f32).collect();
        let pm = PanelMat::from_transposed(&wt, n, k).unwrap();
        for with_init in [false, true] {
            let want = |i: usize, j: usize, lda: usize| {
                let s: f64 = (0..k).map(|kk| a[i * lda + kk] as f64 * wt[j * k + kk] as f64).sum();
                s + if with_init { init[j] as f64 } else { 0.0 }
            };
            let bound = |i: usize, j: usize, lda: usize| {
                let s: f64 = (0..k).map(|kk| (a[i * lda + kk] as f64 * wt[j * k + kk] as f64).abs()).sum();
                1e-6 * (s + 1.0)
            };
            let iv = with_init.then_some(&init[..]);
            // Strided A (k + 2 per row) and out (n + 3 per row) on the caller.
            let mut out = vec![f32::NAN; m * (n + 3)];
            pm.matmul(&a, k + 2, m, iv, &mut out, n + 3).unwrap();
            // Contiguous, split over two threads.
            let ac: Vec<f32> = (0..m).flat_map(|i| a[i * (k + 2)..i * (k + 2) + k].to_vec()).collect();
            let mut outp = vec![f32::NAN; m * n];
            crate::threads::run_in(pool.as_deref(), || pm.matmul_par(&ac, m, iv, &mut outp)).unwrap();
            for i in 0..m {
                for j in 0..n {
                    let (w, e) = (want(i, j, k + 2), bound(i, j, k + 2));
                    let (g1, g2) = (out[i * (n + 3) + j] as f64, outp[i * n + j] as f64);
                    assert!((g1 - w).abs() <= e && (g2 - w).abs() <= e, "{m}x{k}x{n} [{i},{j}]: {g1} {g2} vs {w}");
                }
                // The columns past n of the strided output are never written.
                assert!(out[i * (n + 3) + n..(i + 1) * (n + 3)].iter().all(|v| v.is_nan()), "{m}x{k}x{n} row {i}");
            }
        }
    }
}
