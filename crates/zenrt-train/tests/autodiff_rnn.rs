//! LSTM/GRU: the primitive decomposition reproduces the reference LSTM/GRU kernels, and
//! gradients through it (X, W, R, B, initial states) match float64 finite differences.

mod common;
use common::*;
use std::collections::HashSet;
use std::sync::Arc;
use zenrt_core::{Attr, Graph, Plan, ReferenceBackend, ValueInfo};
use zenrt_train::autodiff::builder::Builder;
use zenrt_train::autodiff::rnn::decompose;

struct Case {
    lstm: bool,
    dir: &'static str,
    bias: bool,
    init: bool,
    lbr: i64,
}

fn cases() -> Vec<Case> {
    let mut v = vec![];
    for lstm in [true, false] {
        for (i, dir) in ["forward", "reverse", "bidirectional"].into_iter().enumerate() {
            v.push(Case { lstm, dir, bias: i != 1, init: i != 0, lbr: (i % 2) as i64 });
        }
    }
    v
}

fn inputs(c: &Case, rng: &mut Rng, seq: usize, batch: usize, inp: usize, hs: usize) -> Vec<In> {
    let d = if c.dir == "bidirectional" { 2 } else { 1 };
    let g = if c.lstm { 4 } else { 3 };
    let mut v = vec![
        diff("x", rng.tensor(&[seq, batch, inp], -1.0, 1.0)),
        diff("w", rng.tensor(&[d, g * hs, inp], -0.8, 0.8)),
        diff("r", rng.tensor(&[d, g * hs, hs], -0.8, 0.8)),
    ];
    if c.bias {
        v.push(diff("b", rng.tensor(&[d, 2 * g * hs], -0.5, 0.5)));
    }
    if c.init {
        v.push(diff("h0", rng.tensor(&[d, batch, hs], -0.5, 0.5)));
        if c.lstm {
            v.push(diff("c0", rng.tensor(&[d, batch, hs], -0.5, 0.5)));
        }
    }
    v
}

/// Y + 0.5·Y_h (+ 0.25·Y_c): every output contributes.
fn body(c: &Case, hs: usize) -> impl Fn(&mut Builder) -> zenrt_core::Result<String> + '_ {
    move |b: &mut Builder| {
        let ins: Vec<&str> = if c.lstm {
            vec![
                "x",
                "w",
                "r",
                if c.bias { "b" } else { "" },
                "",
                if c.init { "h0" } else { "" },
                if c.init { "c0" } else { "" },
            ]
        } else {
            vec!["x", "w", "r", if c.bias { "b" } else { "" }, "", if c.init { "h0" } else { "" }]
        };
        let mut attrs =
            vec![("hidden_size", Attr::Int(hs as i64)), ("direction", Attr::String(c.dir.as_bytes().to_vec()))];
        if !c.lstm {
            attrs.push(("linear_before_reset", Attr::Int(c.lbr)));
        }
        let op = if c.lstm { "LSTM" } else { "GRU" };
        let outs = b.node_n("", op, &ins, attrs, if c.lstm { 3 } else { 2 })?;
        let half = b.scalar(0.5, F64)?;
        let yh = b.mul(&outs[1], &half)?;
        let mut s = b.add(&outs[0], &yh)?;
        if c.lstm {
            let q = b.scalar(0.25, F64)?;
            let yc = b.mul(&outs[2], &q)?;
            s = b.add(&s, &yc)?;
        }
        Ok(s)
    }
}

#[test]
fn decomposition_matches_the_reference_kernels() {
    for (k, c) in cases().iter().enumerate() {
        let mut rng = Rng(k as u64);
        let (seq, batch, inp, hs) = (rng.int(1, 4), rng.int(1, 3), rng.int(1, 3), rng.int(1, 3));
        let ins = inputs(c, &mut rng, seq, batch, inp, hs);
        let f = body(c, hs);
        let (mut g, y) = graph_of(&ins, &f).unwrap();
        g.outputs = vec![ValueInfo::new(y, None, None)];
        let dg: Graph = decompose(&g).unwrap();
        assert!(!dg.nodes.iter().any(|n| n.op_type == "LSTM" || n.op_type == "GRU"));
        let feeds: Vec<(String, zenrt_core::Tensor)> = ins.iter().map(|i| (i.name.clone(), i.value.clone())).collect();
        let run = |g: Graph| {
            Plan::compile(Arc::new(g), &ReferenceBackend, &HashSet::new())
                .unwrap()
                .run(feeds.clone())
                .unwrap()
                .remove(0)
        };
        let (a, b) = (run(g), run(dg));
        assert_eq!(a.shape(), b.shape());
        for (x, y) in a.to_f64_vec().iter().zip(b.to_f64_vec()) {
            assert!((x - y).abs() < 1e-12, "case {k}: {x} vs {y}");
        }
    }
}

#[test]
fn lstm_and_gru_gradients_match_finite_differences() {
    for (k, c) in cases().iter().enumerate() {
        let mut rng = Rng(100 + k as u64);
        let (seq, batch, inp, hs) = (rng.int(1, 3), rng.int(1, 2), rng.int(1, 3), rng.int(1, 3));
        let ins = inputs(c, &mut rng, seq, batch, inp, hs);
        let f = body(c, hs);
        check(ins, k as u64, &f);
    }
}
