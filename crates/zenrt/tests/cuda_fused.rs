//! CUDA kernels of the recurrent and fused operators against the CPU reference, on small
//! hand-built models with random data (without a GPU every test prints SKIP and passes):
//! - LSTM/GRU through the one-launch sequence kernel (every ONNX attribute: directions,
//!   sequence_lens, clip, activations with alpha/beta, peepholes, input_forget,
//!   linear_before_reset, layout 1, several batch rows per block) and through the per-step GEMM
//!   path (hidden size above the fused kernel's default);
//! - depthwise convolutions (the tiled kernel and its wide-row fallback; run with
//!   `ZENRT_CUDA_CONV=im2col` so that cuDNN's per-shape choice cannot hide them) over random
//!   shapes, strides, pads, dilations, channel multipliers and fused activations, fp32/fp16/bf16,
//!   each in NCHW and channels-last (the vectorised `dw_nhwc_*` kernels: every vector width and
//!   window specialisation), and with a residual folded into the epilogue;
//! - broadcasting Add/Sub/Mul/Div (the four-group fast path and the general kernel), both layouts;
//! - `com.zenrt` FusedElementwise (generated kernels: same-shape, scalar and broadcast inputs,
//!   swapped operands) and FusedAttention (with and without broadcast masks).
//!
//! The CPU half runs everywhere (the models are valid); without a GPU the comparison is skipped.
//! Each model runs three times on the GPU (op by op, captured, replayed); every run must be
//! within 1e-4 of the CPU relative to the output's scale in fp32 (2e-2 in fp16), and the replays
//! must equal the first run.
#![cfg(feature = "cuda")]

use prost::Message;
use zenrt::onnx::onnx_proto as pb;
use zenrt::testing::vi;
use zenrt::{Device, Precision, Session, SessionOptions, Tensor};

fn gpu() -> bool {
    zenrt::testing::cuda_or_skip()
}

use zenrt::testing::rel_err;

/// Uniform values in [-scale, scale) from a xorshift stream.
fn random(shape: &[usize], seed: u32, scale: f32) -> Tensor {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((s % 20001) as f32 / 10000.0 - 1.0) * scale
        })
        .collect();
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

enum A {
    I(i64),
    F(f32),
    S(&'static str),
    Ss(&'static [&'static str]),
    Fs(&'static [f32]),
    Is(&'static [i64]),
    Iv(Vec<i64>),
}

fn attr(name: &str, a: &A) -> pb::AttributeProto {
    let mut p = pb::AttributeProto { name: Some(name.into()), ..Default::default() };
    match a {
        A::I(v) => (p.r#type, p.i) = (Some(2), Some(*v)),
        A::F(v) => (p.r#type, p.f) = (Some(1), Some(*v)),
        A::S(v) => (p.r#type, p.s) = (Some(3), Some(v.as_bytes().to_vec())),
        A::Ss(v) => (p.r#type, p.strings) = (Some(8), v.iter().map(|s| s.as_bytes().to_vec()).collect()),
        A::Fs(v) => (p.r#type, p.floats) = (Some(6), v.to_vec()),
        A::Is(v) => (p.r#type, p.ints) = (Some(7), v.to_vec()),
        A::Iv(v) => (p.r#type, p.ints) = (Some(7), v.clone()),
    }
    p
}

/// A one-node model: every input is a graph input (`""` = omitted), outputs of unknown shape.
fn one_node(domain: &str, op: &str, ins: &[(&str, i32, Vec<usize>)], outs: &[&str], attrs: &[(&str, A)]) -> Vec<u8> {
    let node = pb::NodeProto {
        op_type: Some(op.into()),
        domain: Some(domain.into()),
        name: Some("n".into()),
        input: ins.iter().map(|(n, _, _)| n.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs.iter().map(|(n, a)| attr(n, a)).collect(),
        ..Default::default()
    };
    let mut opsets = vec![pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }];
    if !domain.is_empty() {
        opsets.push(pb::OperatorSetIdProto { domain: Some(domain.into()), version: Some(1) });
    }
    let m = pb::ModelProto {
        ir_version: Some(8),
        opset_import: opsets,
        graph: Some(pb::GraphProto {
            name: Some("t".into()),
            node: vec![node],
            input: ins
                .iter()
                .filter(|(n, _, _)| !n.is_empty())
                .map(|(n, e, s)| vi(n, *e, &s.iter().map(|&d| d as i64).collect::<Vec<_>>()))
                .collect(),
            output: outs
                .iter()
                .filter(|o| !o.is_empty())
                .map(|o| pb::ValueInfoProto { name: Some(o.to_string()), ..Default::default() })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    m.encode_to_vec()
}

/// Runs `model` on the CPU and three times on the GPU in fp32 (1e-4) and fp16 (2e-2).
fn check(what: &str, model: &[u8], feeds: &[(&str, Tensor)]) {
    check_at(what, model, feeds, &[(Precision::Fp32, 1e-4), (Precision::Fp16, 2e-2)]);
}

/// Runs `model` on the CPU and three times on the GPU at each (precision, tolerance); checks every output.
fn check_at(what: &str, model: &[u8], feeds: &[(&str, Tensor)], precisions: &[(Precision, f64)]) {
    check_layouts(what, model, feeds, precisions, &[None]);
}

/// [`check_at`] once per channels-last setting in `layouts` (`None`: the default policy,
/// `Some(on)`: `CudaPlan::set_channels_last(on)`); the first run of each later setting must also
/// be within the tolerance of the first setting's.
fn check_layouts(
    what: &str,
    model: &[u8],
    feeds: &[(&str, Tensor)],
    precisions: &[(Precision, f64)],
    layouts: &[Option<bool>],
) {
    let load = |opts: &SessionOptions| {
        let m =
            zenrt::onnx::load_model_bytes(model, &Default::default()).unwrap_or_else(|e| panic!("{what}: load: {e}"));
        Session::from_model(m, opts).unwrap_or_else(|e| panic!("{what}: session: {e}"))
    };
    let feeds: Vec<(String, Tensor)> = feeds.iter().map(|(n, t)| (n.to_string(), t.clone())).collect();
    let cpu = load(&SessionOptions::default()).run(feeds.clone()).unwrap_or_else(|e| panic!("{what}: CPU: {e}"));
    if !gpu() {
        return;
    }
    for &(precision, tol) in precisions {
        let mut firsts: Vec<zenrt::Outputs> = Vec::new();
        for &layout in layouts {
            let s = load(&SessionOptions { device: Device::Cuda(0), precision, ..Default::default() });
            if let (Some(on), Some(plan)) = (layout, s.cuda_plan()) {
                plan.set_channels_last(on);
            }
            let what = format!("{what} {precision} nhwc {layout:?}");
            let runs: Vec<_> =
                (0..3).map(|i| s.run(feeds.clone()).unwrap_or_else(|e| panic!("{what}: GPU run {i}: {e}"))).collect();
            for name in &cpu.names {
                let want = cpu.get(name).unwrap_or_else(|| panic!("{what}: CPU output {name} is not a tensor"));
                for (i, r) in runs.iter().enumerate() {
                    let got = r.get(name).unwrap_or_else(|| panic!("{what}: no GPU output {name}"));
                    assert_eq!(got.shape(), want.shape(), "{what} {name}: shape");
                    let e = rel_err(got, want);
                    eprintln!("{what} {name} run {i}: {e:.2e}");
                    assert!(e <= tol, "{what} {name} run {i}: GPU vs CPU {e:.3e} > {tol:e}");
                    let first = runs[0].get(name).unwrap().to_f64_vec();
                    assert_eq!(got.to_f64_vec(), first, "{what} {name}: replay differs");
                }
                if let Some(other) = firsts.first().and_then(|f| f.get(name)) {
                    let e = rel_err(runs[0].get(name).unwrap(), other);
                    assert!(e <= tol, "{what} {name}: against the first layout {e:.3e} > {tol:e}");
                }
            }
            firsts.extend(runs.into_iter().next());
        }
    }
}

struct RnnCase {
    what: &'static str,
    lstm: bool,
    seq: usize,
    batch: usize,
    inp: usize,
    hidden: usize,
    dirs: usize,
    layout: i64,
    lens: Option<Vec<i32>>,
    peepholes: bool,
    attrs: Vec<(&'static str, A)>,
}

fn check_rnn(c: RnnCase) {
    let g = if c.lstm { 4 } else { 3 };
    let (h, d) = (c.hidden, c.dirs);
    let x_shape = if c.layout == 0 { vec![c.seq, c.batch, c.inp] } else { vec![c.batch, c.seq, c.inp] };
    let st = if c.layout == 0 { vec![d, c.batch, h] } else { vec![c.batch, d, h] };
    let mut ins: Vec<(&str, i32, Vec<usize>)> = vec![
        ("x", 1, x_shape.clone()),
        ("w", 1, vec![d, g * h, c.inp]),
        ("r", 1, vec![d, g * h, h]),
        ("b", 1, vec![d, 2 * g * h]),
        (if c.lens.is_some() { "lens" } else { "" }, 6, vec![c.batch]),
        ("h0", 1, st.clone()),
    ];
    if c.lstm {
        ins.push(("c0", 1, st.clone()));
        if c.peepholes {
            ins.push(("p", 1, vec![d, 3 * h]));
        }
    }
    let outs: &[&str] = if c.lstm { &["y", "yh", "yc"] } else { &["y", "yh"] };
    let mut attrs = c.attrs;
    attrs.push(("hidden_size", A::I(h as i64)));
    attrs.push(("layout", A::I(c.layout)));
    let dir = match d {
        2 => "bidirectional",
        _ if attrs.iter().any(|(n, _)| *n == "direction") => "",
        _ => "forward",
    };
    if !dir.is_empty() {
        attrs.push(("direction", A::S(dir)));
    }
    let model = one_node("", if c.lstm { "LSTM" } else { "GRU" }, &ins, outs, &attrs);
    let ws = 1.0 / (h as f32).sqrt();
    let mut feeds: Vec<(&str, Tensor)> = vec![
        ("x", random(&x_shape, 1, 1.0)),
        ("w", random(&[d, g * h, c.inp], 2, ws)),
        ("r", random(&[d, g * h, h], 3, ws)),
        ("b", random(&[d, 2 * g * h], 4, 0.3)),
        ("h0", random(&st, 5, 0.5)),
    ];
    if let Some(l) = &c.lens {
        feeds.push(("lens", Tensor::from_vec(vec![c.batch], l.clone()).unwrap()));
    }
    if c.lstm {
        feeds.push(("c0", random(&st, 6, 0.5)));
        if c.peepholes {
            feeds.push(("p", random(&[d, 3 * h], 7, 0.3)));
        }
    }
    check(c.what, &model, &feeds);
}

fn rnn(what: &'static str, lstm: bool, seq: usize, batch: usize, hidden: usize, dirs: usize) -> RnnCase {
    RnnCase { what, lstm, seq, batch, inp: 7, hidden, dirs, layout: 0, lens: None, peepholes: false, attrs: vec![] }
}

#[test]
fn lstm_variants_match_cpu() {
    check_rnn(rnn("lstm fwd", true, 6, 3, 16, 1));
    check_rnn(RnnCase { lens: Some(vec![6, 2, 0, 5]), ..rnn("lstm bidi lens", true, 6, 4, 16, 2) });
    check_rnn(RnnCase {
        peepholes: true,
        attrs: vec![
            ("clip", A::F(0.7)),
            ("input_forget", A::I(1)),
            ("direction", A::S("reverse")),
            ("activations", A::Ss(&["HardSigmoid", "Softsign", "ScaledTanh"])),
            ("activation_alpha", A::Fs(&[0.3, 0.8])),
            ("activation_beta", A::Fs(&[0.4, 1.2])),
        ],
        ..rnn("lstm clip acts peepholes reverse", true, 5, 3, 12, 1)
    });
    check_rnn(RnnCase { layout: 1, lens: Some(vec![3, 5]), ..rnn("lstm layout1 bidi", true, 5, 2, 8, 2) });
    // several batch rows per block (300 * 2 directions over the SMs)
    check_rnn(rnn("lstm many rows", true, 4, 300, 32, 2));
    // hidden size above the fused default: per-step GEMM + gate kernel
    check_rnn(rnn("lstm steps path", true, 4, 3, 160, 2));
    check_rnn(RnnCase { attrs: vec![("clip", A::F(0.5))], ..rnn("lstm wide clip (fused)", true, 3, 2, 160, 1) });
}

#[test]
fn gru_variants_match_cpu() {
    check_rnn(rnn("gru fwd", false, 6, 3, 16, 1));
    check_rnn(RnnCase {
        lens: Some(vec![1, 6, 3]),
        attrs: vec![("linear_before_reset", A::I(1))],
        ..rnn("gru lbr bidi lens", false, 6, 3, 16, 2)
    });
    check_rnn(RnnCase { lens: Some(vec![4, 0, 2]), ..rnn("gru lbr0 bidi lens", false, 4, 3, 20, 2) });
    check_rnn(RnnCase {
        attrs: vec![
            ("clip", A::F(0.6)),
            ("direction", A::S("reverse")),
            ("activations", A::Ss(&["LeakyRelu", "Elu"])),
            ("activation_alpha", A::Fs(&[0.1, 0.9])),
        ],
        ..rnn("gru clip acts reverse", false, 5, 2, 10, 1)
    });
    check_rnn(RnnCase { layout: 1, ..rnn("gru layout1", false, 4, 3, 8, 1) });
    check_rnn(rnn("gru steps path", false, 3, 2, 160, 2));
    check_rnn(RnnCase { attrs: vec![("linear_before_reset", A::I(1))], ..rnn("gru many rows", false, 3, 400, 24, 1) });
}

#[test]
fn fused_elementwise_matches_cpu() {
    let shape = vec![2, 3, 4, 5];
    // acc = x0; sigmoid; * x1 [2,3,1,1] (SE scaling); x2 [5] - acc; abs; / x3 (scalar); + x0; tanh; relu
    let attrs = vec![
        ("ops", A::Ss(&["Sigmoid", "Mul", "Sub", "Abs", "Div", "Add", "Tanh", "Relu", "Exp", "Sqrt", "Neg", "Erf"])),
        ("operands", A::Is(&[-1, 1, 2, -1, 3, 0, -1, -1, -1, -1, -1, -1])),
        ("swap", A::Is(&[0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
    ];
    let ins = vec![("x0", 1, shape.clone()), ("x1", 1, vec![2, 3, 1, 1]), ("x2", 1, vec![5]), ("x3", 1, vec![1])];
    let model = one_node("com.zenrt", "FusedElementwise", &ins, &["y"], &attrs);
    let feeds = [
        ("x0", random(&shape, 11, 2.0)),
        ("x1", random(&[2, 3, 1, 1], 12, 1.5)),
        ("x2", random(&[5], 13, 1.0)),
        ("x3", Tensor::from_vec(vec![1], vec![0.75f32]).unwrap()),
    ];
    check("fused elementwise", &model, &feeds);
    // the running value broadcast by a larger operand (output larger than input 0), Swish
    let attrs = vec![("ops", A::Ss(&["Sigmoid", "Mul"])), ("operands", A::Is(&[-1, 1])), ("swap", A::Is(&[0, 1]))];
    let ins = vec![("a", 1, vec![3, 1]), ("b", 1, vec![2, 3, 17])];
    let model = one_node("com.zenrt", "FusedElementwise", &ins, &["y"], &attrs);
    check(
        "fused elementwise broadcast",
        &model,
        &[("a", random(&[3, 1], 14, 3.0)), ("b", random(&[2, 3, 17], 15, 1.0))],
    );
}

/// Broadcasting Add/Sub/Mul/Div (the `binary_bcast_f32` fast path where one operand has the
/// output's shape, either side, and the general kernel where neither has), in both layouts: a
/// squeeze-excitation scale, a per-channel bias, a row vector, a scalar, a middle size-1 dim.
#[test]
fn broadcast_arithmetic_matches_cpu() {
    let cases: [(&[usize], &[usize]); 7] = [
        (&[2, 6, 5, 7], &[2, 6, 1, 1]),
        (&[2, 6, 1, 1], &[2, 6, 5, 7]),
        (&[2, 6, 5, 7], &[6, 1, 1]),
        (&[3, 5, 9], &[9]),
        (&[4, 1, 6, 3], &[4, 1, 1, 3]),
        (&[5, 8], &[1]),
        (&[5, 1], &[1, 8]),
    ];
    for (k, (sa, sb)) in cases.iter().enumerate() {
        for op in ["Add", "Sub", "Mul", "Div"] {
            let ins = vec![("a", 1, sa.to_vec()), ("b", 1, sb.to_vec())];
            let model = one_node("", op, &ins, &["y"], &[]);
            // divisors kept away from zero: |x| + 0.5
            let away = |t: Tensor| {
                let v: Vec<f32> = t.to_f64_vec().iter().map(|x| (x.abs() + 0.5) as f32).collect();
                Tensor::from_vec(t.shape().to_vec(), v).unwrap()
            };
            let (a, b) = (random(sa, 40 + k as u32, 2.0), away(random(sb, 50 + k as u32, 1.5)));
            let what = format!("{op} {sa:?} {sb:?}");
            check_layouts(
                &what,
                &model,
                &[("a", a), ("b", b)],
                &[(Precision::Fp32, 1e-6), (Precision::Fp16, 5e-3)],
                &[Some(false), Some(true)],
            );
        }
    }
}

#[test]
fn fused_attention_matches_cpu() {
    let (b, h, s, d, t, dv) = (2, 4, 7, 8, 9, 6);
    for (what, mask) in [
        ("attention no mask", None),
        ("attention mask [b,1,1,t]", Some(vec![b, 1, 1, t])),
        ("attention mask [s,t]", Some(vec![s, t])),
    ] {
        let mut ins = vec![("q", 1, vec![b, h, s, d]), ("kt", 1, vec![b, h, d, t]), ("v", 1, vec![b, h, t, dv])];
        let mut feeds = vec![
            ("q", random(&[b, h, s, d], 21, 1.0)),
            ("kt", random(&[b, h, d, t], 22, 1.0)),
            ("v", random(&[b, h, t, dv], 23, 1.0)),
        ];
        if let Some(m) = &mask {
            ins.push(("mask", 1, m.clone()));
            // additive mask: 0 or a large negative number, as exporters write it
            let n: usize = m.iter().product();
            let vals: Vec<f32> = (0..n).map(|i| if i % 4 == 3 { -1e4 } else { 0.0 }).collect();
            feeds.push(("mask", Tensor::from_vec(m.clone(), vals).unwrap()));
        }
        let model = one_node("com.zenrt", "FusedAttention", &ins, &["y"], &[("scale", A::F(0.35))]);
        check(what, &model, &feeds);
    }
}

/// Depthwise FusedConv (bias + activation) against the CPU, fp32 / fp16 / bf16. Shapes are drawn
/// from a seeded stream: 1-D and 2-D, kernel 1-5, stride 1-3, dilation 1-2, pads 0-2 per side
/// (asymmetric too), channel multiplier 1-2, planes from 1x1 (many planes per block) to 37x53,
/// plus MobileNet's shapes and a row too wide for the tiled kernel's shared memory (fallback).
/// Bounds: about 2.5x the worst measured on an H100 (3e-7 / 5.9e-4 / 5.6e-3).
#[test]
fn depthwise_conv_matches_cpu() {
    let mut s = 0x9e37_79b9u32;
    let mut rnd = |n: u32| {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s % n) as usize
    };
    // (n, c, multiplier, spatial, kernel, strides, dilations, pads, activation)
    type Case = (usize, usize, usize, Vec<usize>, Vec<usize>, Vec<i64>, Vec<i64>, Vec<i64>, &'static str);
    let mut cases: Vec<Case> = vec![
        (2, 32, 1, vec![112, 112], vec![3, 3], vec![1, 1], vec![1, 1], vec![1, 1, 1, 1], "Clip"),
        (2, 96, 1, vec![112, 112], vec![3, 3], vec![2, 2], vec![1, 1], vec![1, 1, 1, 1], "Clip"),
        (3, 160, 1, vec![7, 7], vec![3, 3], vec![1, 1], vec![1, 1], vec![1, 1, 1, 1], "Relu"),
        (1, 40, 1, vec![28, 28], vec![5, 5], vec![2, 2], vec![1, 1], vec![1, 2, 1, 2], "Swish"),
        (1, 2, 1, vec![13_000], vec![3], vec![1], vec![1], vec![1, 1], ""),
        // channels-last vector widths (C multiple of 8, 4, 2, odd), kernels 3x3 / 5x5 / other
        (2, 24, 1, vec![19, 17], vec![3, 3], vec![1, 1], vec![1, 1], vec![1, 1, 1, 1], "Clip"),
        (2, 144, 1, vec![14, 14], vec![3, 3], vec![2, 2], vec![1, 1], vec![0, 0, 1, 1], "Swish"),
        (1, 20, 1, vec![11, 13], vec![5, 5], vec![1, 1], vec![2, 2], vec![4, 4, 4, 4], "Relu"),
        (3, 6, 1, vec![9, 10], vec![2, 4], vec![1, 2], vec![1, 1], vec![0, 1, 1, 2], ""),
        (1, 7, 1, vec![8, 8], vec![3, 3], vec![3, 1], vec![2, 1], vec![2, 0, 2, 1], "Swish"),
    ];
    let acts = ["", "Relu", "Clip", "Swish"];
    for _ in 0..12 {
        let two_d = rnd(4) != 0;
        let r = if two_d { 2 } else { 1 };
        let sp: Vec<usize> = (0..r).map(|_| 1 + rnd(40)).collect();
        let k: Vec<usize> = (0..r).map(|_| 1 + rnd(5)).collect();
        let st: Vec<i64> = (0..r).map(|_| 1 + rnd(3) as i64).collect();
        let dl: Vec<i64> = (0..r).map(|_| 1 + rnd(2) as i64).collect();
        let pads: Vec<i64> = (0..2 * r).map(|_| rnd(3) as i64).collect();
        // the dilated kernel must fit in the padded input
        let fits = (0..r).all(|i| (k[i] as i64 - 1) * dl[i] < sp[i] as i64 + pads[i] + pads[i + r]);
        if fits {
            cases.push((1 + rnd(3), 1 + rnd(24), 1 + rnd(2), sp, k, st, dl, pads, acts[rnd(4)]));
        }
    }
    for (i, (n, c, m, sp, k, st, dl, pads, act)) in cases.into_iter().enumerate() {
        let what = format!("depthwise {i}: n{n} c{c} x{m} {sp:?} k{k:?} s{st:?} d{dl:?} p{pads:?} {act}");
        let x_shape: Vec<usize> = [vec![n, c], sp].concat();
        let w_shape: Vec<usize> = [vec![c * m, 1], k.clone()].concat();
        let kn: usize = k.iter().product();
        let ins = vec![("x", 1, x_shape.clone()), ("w", 1, w_shape.clone()), ("b", 1, vec![c * m])];
        let kernel: Vec<i64> = k.iter().map(|&v| v as i64).collect();
        let mut attrs = vec![
            ("group", A::I(c as i64)),
            ("kernel_shape", A::Iv(kernel)),
            ("strides", A::Iv(st)),
            ("dilations", A::Iv(dl)),
            ("pads", A::Iv(pads)),
        ];
        match act {
            "" => {}
            "Clip" => {
                attrs.push(("activation", A::S("Clip")));
                attrs.push(("activation_params", A::Fs(&[0.0, 6.0])));
            }
            a => attrs.push(("activation", A::S(a))),
        }
        let model = one_node("com.zenrt", "FusedConv", &ins, &["y"], &attrs);
        let feeds = [
            ("x", random(&x_shape, 31 + i as u32, 2.0)),
            ("w", random(&w_shape, 32 + i as u32, 1.0 / (kn as f32).sqrt())),
            ("b", random(&[c * m], 33 + i as u32, 0.5)),
        ];
        check_layouts(&what, &model, &feeds, DW_TOL, &[Some(false), Some(true)]);
    }
}

/// fp32 / fp16 / bf16 bounds of the depthwise tests: about 2.5x the worst measured on an H100
/// (3e-7 / 5.9e-4 / 5.6e-3).
const DW_TOL: &[(Precision, f64)] = &[(Precision::Fp32, 2e-6), (Precision::Fp16, 1.5e-3), (Precision::Bf16, 1.2e-2)];

/// A depthwise Conv followed by `Add` with a graph input (the residual the CUDA plan folds into
/// the convolution's epilogue), NCHW and channels-last, against the CPU.
#[test]
fn depthwise_conv_with_residual_matches_cpu() {
    // (n, c, spatial, kernel, stride, dilation, pad)
    for (i, (n, c, hw, k, st, dl, pad)) in
        [(2, 24, 15, 3, 1, 1, 1), (1, 7, 12, 5, 1, 1, 2), (2, 32, 9, 3, 1, 2, 2)].into_iter().enumerate()
    {
        let what = format!("depthwise + residual {i}: n{n} c{c} {hw}x{hw} k{k} s{st} d{dl} p{pad}");
        let x_shape = vec![n, c, hw, hw];
        let w_shape = vec![c, 1, k, k];
        let o = (hw + 2 * pad - dl * (k - 1) - 1) / st + 1;
        let z_shape = vec![n, c, o, o];
        let ins = vec![("x", 1, x_shape.clone()), ("w", 1, w_shape.clone()), ("b", 1, vec![c])];
        let attrs = [
            ("group", A::I(c as i64)),
            ("kernel_shape", A::Iv(vec![k as i64; 2])),
            ("strides", A::Iv(vec![st as i64; 2])),
            ("dilations", A::Iv(vec![dl as i64; 2])),
            ("pads", A::Iv(vec![pad as i64; 4])),
        ];
        let mut m = pb::ModelProto::decode(one_node("", "Conv", &ins, &["y"], &attrs).as_slice()).unwrap();
        let g = m.graph.as_mut().unwrap();
        g.node.push(pb::NodeProto {
            op_type: Some("Add".into()),
            name: Some("add".into()),
            input: vec!["y".into(), "z".into()],
            output: vec!["out".into()],
            ..Default::default()
        });
        g.input.push(vi("z", 1, &z_shape.iter().map(|&d| d as i64).collect::<Vec<_>>()));
        g.output = vec![pb::ValueInfoProto { name: Some("out".into()), ..Default::default() }];
        let feeds = [
            ("x", random(&x_shape, 61 + i as u32, 2.0)),
            ("w", random(&w_shape, 62 + i as u32, 1.0 / k as f32)),
            ("b", random(&[c], 63 + i as u32, 0.5)),
            ("z", random(&z_shape, 64 + i as u32, 1.0)),
        ];
        check_layouts(&what, &m.encode_to_vec(), &feeds, DW_TOL, &[Some(false), Some(true)]);
    }
}
