//! Each pass on small hand-built graphs: the rewritten graph must compute the same outputs as the
//! original (within 1e-5 relative to the output's scale), and the pass must report (and make) the
//! expected number of rewrites — or none where the pattern is not valid to rewrite.

use super::rewrite::make_node;
use super::*;
use crate::{Attr, Attrs, Dim, Graph, Node, Plan, ReferenceBackend, Tensor, ValueInfo};
use std::collections::HashSet;
use std::sync::Arc;

fn attrs(list: &[(&str, Attr)]) -> Attrs {
    list.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn node(op: &str, ins: &[&str], outs: &[&str], a: Attrs) -> Node {
    let (domain, opset) = if op.starts_with("Fused") { ("com.zenrt", 1) } else { ("", 18) };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    make_node(format!("{op}_{}", outs[0]), domain, op, opset, s(ins), s(outs), a).unwrap()
}

/// Deterministic pseudo-random values in [-1, 1).
fn rand(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) as f64 / (1u64 << 31) as f64 * 2.0 - 1.0) as f32
        })
        .collect();
    Tensor::from_vec(shape.to_vec(), v).unwrap()
}

fn konst(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(shape.to_vec(), v.to_vec()).unwrap()
}

fn ints(v: &[i64]) -> Tensor {
    Tensor::from_vec(vec![v.len()], v.to_vec()).unwrap()
}

struct Case {
    g: Graph,
    feeds: Vec<(String, Tensor)>,
}

fn case(inputs: &[(&str, &[usize])], outputs: &[&str], inits: Vec<(&str, Tensor)>, nodes: Vec<Node>) -> Case {
    let mut g = Graph { name: "t".into(), nodes, ..Default::default() };
    let mut feeds = vec![];
    for (k, (name, shape)) in inputs.iter().enumerate() {
        let dims = shape.iter().map(|&d| Dim::Known(d)).collect();
        g.inputs.push(ValueInfo::new(*name, Some(crate::DType::F32), Some(dims)));
        feeds.push((name.to_string(), rand(shape, 17 + k as u64)));
    }
    for o in outputs {
        g.outputs.push(ValueInfo::new(*o, None, None));
    }
    for (k, t) in inits {
        g.initializers.insert(k.to_string(), Arc::new(t));
    }
    Case { g, feeds }
}

fn run(g: &Graph, feeds: &[(String, Tensor)]) -> Vec<Tensor> {
    let plan = Plan::compile(Arc::new(g.clone()), &ReferenceBackend, &HashSet::new()).unwrap();
    plan.run(feeds.to_vec()).unwrap()
}

/// Runs `pass` (then dead-code removal); checks the rewrite count and output equality; returns
/// the rewritten graph's op types.
fn check(c: Case, pass: &dyn Pass, want_rewrites: usize) -> Vec<String> {
    let before = run(&c.g, &c.feeds);
    let mut g = c.g.clone();
    let n = pass.run(&mut g).unwrap();
    DeadCode.run(&mut g).unwrap();
    assert_eq!(n, want_rewrites, "{}: rewrites; graph now {:?}", pass.name(), g.nodes);
    let after = run(&g, &c.feeds);
    assert_eq!(before.len(), after.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.shape(), b.shape(), "{}: shape", pass.name());
        let (av, bv) = (a.to_f64_vec(), b.to_f64_vec());
        let scale = bv.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-30);
        let diff = av.iter().zip(&bv).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff / scale <= 1e-5, "{}: outputs differ by {:.3e} (relative)", pass.name(), diff / scale);
    }
    g.nodes.iter().map(|n| n.op_type.clone()).collect()
}

#[test]
fn cse_merges_duplicates_and_equal_constants() {
    let c = case(
        &[("x", &[2, 3])],
        &["y"],
        vec![("a1", ints(&[0])), ("a2", ints(&[0]))],
        vec![
            node("Relu", &["x"], &["r1"], Attrs::new()),
            node("Relu", &["x"], &["r2"], Attrs::new()),
            node("Unsqueeze", &["r1", "a1"], &["u1"], Attrs::new()),
            node("Unsqueeze", &["r2", "a2"], &["u2"], Attrs::new()),
            node("Add", &["u1", "u2"], &["y"], Attrs::new()),
        ],
    );
    // One constant merged, then the second Relu, then the second Unsqueeze.
    let ops = check(c, &Cse, 3);
    assert_eq!(ops, ["Relu", "Unsqueeze", "Add"]);
}

#[test]
fn cse_keeps_graph_outputs() {
    let c = case(
        &[("x", &[2, 3])],
        &["r1", "r2"],
        vec![],
        vec![node("Relu", &["x"], &["r1"], Attrs::new()), node("Relu", &["x"], &["r2"], Attrs::new())],
    );
    check(c, &Cse, 0);
}

#[test]
fn fold_shapes_makes_static_shape_arithmetic_constant() {
    let c = case(
        &[("x", &[2, 3, 4])],
        &["y"],
        vec![("i2", Tensor::scalar(2i64)), ("ax", ints(&[0])), ("m1", ints(&[-1]))],
        vec![
            node("Shape", &["x"], &["s"], Attrs::new()),
            node("Gather", &["s", "i2"], &["d"], attrs(&[("axis", Attr::Int(0))])),
            node("Unsqueeze", &["d", "ax"], &["du"], Attrs::new()),
            node("Concat", &["m1", "du"], &["spec"], attrs(&[("axis", Attr::Int(0))])),
            node("Reshape", &["x", "spec"], &["y"], Attrs::new()),
        ],
    );
    let ops = check(c, &FoldShapes, 4);
    assert_eq!(ops, ["Reshape"]);
}

#[test]
fn transpose_pairs_compose_or_vanish() {
    let p = |v: &[i64]| attrs(&[("perm", Attr::Ints(v.to_vec()))]);
    let c = case(
        &[("x", &[2, 3, 4])],
        &["y", "z"],
        vec![],
        vec![
            node("Transpose", &["x"], &["t1"], p(&[1, 0, 2])),
            node("Transpose", &["t1"], &["t2"], p(&[1, 0, 2])),
            node("Relu", &["t2"], &["y"], Attrs::new()),
            node("Transpose", &["x"], &["t3"], p(&[0, 2, 1])),
            node("Transpose", &["t3"], &["z"], p(&[2, 0, 1])),
        ],
    );
    let ops = check(c, &TransposeReshape, 2);
    assert_eq!(ops, ["Relu", "Transpose"]);
}

#[test]
fn reshape_pairs_and_noop_reshapes_go() {
    let c = case(
        &[("x", &[2, 3, 4])],
        &["y", "z"],
        vec![("s1", ints(&[6, 4])), ("s2", ints(&[4, -1])), ("same", ints(&[2, 3, 4]))],
        vec![
            node("Reshape", &["x", "s1"], &["r1"], Attrs::new()),
            node("Reshape", &["r1", "s2"], &["y"], Attrs::new()),
            node("Reshape", &["x", "same"], &["r3"], Attrs::new()),
            node("Relu", &["r3"], &["z"], Attrs::new()),
        ],
    );
    let ops = check(c, &TransposeReshape, 2);
    assert_eq!(ops, ["Reshape", "Relu"]);
}

#[test]
fn reshape_with_zero_entry_is_kept() {
    let c = case(
        &[("x", &[2, 3, 4])],
        &["y"],
        vec![("s1", ints(&[6, 4])), ("s2", ints(&[0, -1]))],
        vec![
            node("Reshape", &["x", "s1"], &["r1"], Attrs::new()),
            node("Reshape", &["r1", "s2"], &["y"], Attrs::new()),
        ],
    );
    check(c, &TransposeReshape, 0);
}

fn conv_case(after: Vec<Node>, extra: Vec<(&'static str, Tensor)>, out: &str) -> Case {
    let mut inits = vec![("w", rand(&[4, 3, 3, 3], 1)), ("b", rand(&[4], 2))];
    inits.extend(extra);
    let mut nodes = vec![node("Conv", &["x", "w", "b"], &["c"], attrs(&[("pads", Attr::Ints(vec![1, 1, 1, 1]))]))];
    nodes.extend(after);
    case(&[("x", &[2, 3, 5, 5])], &[out], inits, nodes)
}

#[test]
fn batchnorm_and_affine_fold_into_conv() {
    let var = konst(&[0.5, 1.0, 2.0, 0.1], &[4]);
    let c = conv_case(
        vec![node(
            "BatchNormalization",
            &["c", "sc", "bb", "mean", "var"],
            &["y"],
            attrs(&[("epsilon", Attr::Float(1e-3))]),
        )],
        vec![("sc", rand(&[4], 3)), ("bb", rand(&[4], 4)), ("mean", rand(&[4], 5)), ("var", var)],
        "y",
    );
    assert_eq!(check(c, &FoldBatchNorm, 1), ["Conv"]);

    let c = conv_case(
        vec![node("Mul", &["c", "m"], &["c2"], Attrs::new()), node("Add", &["a", "c2"], &["y"], Attrs::new())],
        vec![("m", rand(&[4, 1, 1], 6)), ("a", rand(&[1, 4, 1, 1], 7))],
        "y",
    );
    assert_eq!(check(c, &FoldBatchNorm, 2), ["Conv"]);
}

#[test]
fn affine_along_another_axis_is_not_folded() {
    // [5] broadcasts along the width axis, not the channels.
    let c = conv_case(vec![node("Mul", &["c", "m"], &["y"], Attrs::new())], vec![("m", rand(&[5], 6))], "y");
    check(c, &FoldBatchNorm, 0);
}

#[test]
fn batchnorm_folds_into_gemm() {
    let c = case(
        &[("x", &[3, 5])],
        &["y"],
        vec![
            ("w", rand(&[4, 5], 1)),
            ("cb", rand(&[4], 2)),
            ("sc", rand(&[4], 3)),
            ("bb", rand(&[4], 4)),
            ("mean", rand(&[4], 5)),
            ("var", konst(&[0.5, 1.0, 2.0, 0.1], &[4])),
        ],
        vec![
            node("Gemm", &["x", "w", "cb"], &["g"], attrs(&[("transB", Attr::Int(1)), ("beta", Attr::Float(0.5))])),
            node("BatchNormalization", &["g", "sc", "bb", "mean", "var"], &["y"], Attrs::new()),
        ],
    );
    assert_eq!(check(c, &FoldBatchNorm, 1), ["Gemm"]);
}

#[test]
fn activations_fuse_into_conv_gemm_matmul() {
    // Conv + Relu, Conv + SiLU.
    let c = conv_case(
        vec![
            node("Relu", &["c"], &["r"], Attrs::new()),
            node("Conv", &["r", "w2"], &["c2"], Attrs::new()),
            node("Sigmoid", &["c2"], &["s"], Attrs::new()),
            node("Mul", &["s", "c2"], &["y"], Attrs::new()),
        ],
        vec![("w2", rand(&[2, 4, 1, 1], 9))],
        "y",
    );
    assert_eq!(check(c, &FuseActivation, 2), ["FusedConv", "FusedConv"]);
    // Gemm + Clip (constant bounds), MatMul + Tanh.
    let c = case(
        &[("x", &[3, 5])],
        &["y"],
        vec![
            ("w", rand(&[5, 4], 1)),
            ("lo", Tensor::scalar(-0.2f32)),
            ("hi", Tensor::scalar(0.3f32)),
            ("w2", rand(&[4, 2], 2)),
        ],
        vec![
            node("Gemm", &["x", "w"], &["g"], Attrs::new()),
            node("Clip", &["g", "lo", "hi"], &["cl"], Attrs::new()),
            node("MatMul", &["cl", "w2"], &["m"], Attrs::new()),
            node("Tanh", &["m"], &["y"], Attrs::new()),
        ],
    );
    assert_eq!(check(c, &FuseActivation, 2), ["FusedGemm", "FusedMatMul"]);
}

#[test]
fn activation_fuses_when_inference_lost_the_input_type() {
    // Detection exports feed their backbone from data-dependent ops whose type inference gives up;
    // the conv's weight still says the type.
    let mut c = conv_case(vec![node("Relu", &["c"], &["y"], Attrs::new())], vec![], "y");
    c.g.inputs[0].dtype = None;
    c.g.inputs[0].shape = None;
    assert_eq!(check(c, &FuseActivation, 1), ["FusedConv"]);
}

#[test]
fn activation_not_fused_when_value_is_also_read_elsewhere() {
    let c = conv_case(
        vec![node("Relu", &["c"], &["r"], Attrs::new()), node("Add", &["r", "c"], &["y"], Attrs::new())],
        vec![],
        "y",
    );
    check(c, &FuseActivation, 0);
    // A graph output.
    let c = conv_case(vec![node("Relu", &["c"], &["y"], Attrs::new())], vec![], "y");
    let mut c2 = c;
    c2.g.outputs.push(ValueInfo::new("c", None, None));
    check(c2, &FuseActivation, 0);
}

/// `x [2, 4, 9, 67]` → 1×1 FusedConv (Relu) → depthwise FusedConv 3×3 with `dw` attributes (SiLU)
/// → `y`, after `fuse_activation` ran on the plain graph.
fn expand_dw_case(dw: &[(&str, Attr)], also_out: bool) -> Case {
    expand_dw_case_w(dw, also_out, 67)
}

/// [`expand_dw_case`] with input width `w`.
fn expand_dw_case_w(dw: &[(&str, Attr)], also_out: bool, w: usize) -> Case {
    let relu = attrs(&[("activation", Attr::String(b"Relu".to_vec()))]);
    let mut dw_attrs = attrs(&[("group", Attr::Int(12)), ("activation", Attr::String(b"Silu".to_vec()))]);
    dw_attrs.extend(attrs(dw));
    let nodes =
        vec![node("FusedConv", &["x", "we", "be"], &["e"], relu), node("FusedConv", &["e", "wd"], &["y"], dw_attrs)];
    let inits = vec![("we", rand(&[12, 4, 1, 1], 3)), ("be", rand(&[12], 4)), ("wd", rand(&[12, 1, 3, 3], 5))];
    let mut c = case(&[("x", &[2, 4, 9, w])], &["y"], inits, nodes);
    if also_out {
        c.g.outputs.push(ValueInfo::new("e", None, None));
    }
    c
}

#[test]
fn expand_and_depthwise_convs_fuse() {
    let stride2 = [("strides", Attr::Ints(vec![2, 2])), ("pads", Attr::Ints(vec![1, 0, 1, 1]))];
    assert_eq!(check(expand_dw_case(&stride2, false), &FuseExpandDepthwise, 1), ["FusedExpandDepthwise"]);
    let plain = [("pads", Attr::Ints(vec![1, 1, 1, 1]))];
    assert_eq!(check(expand_dw_case(&plain, false), &FuseExpandDepthwise, 1), ["FusedExpandDepthwise"]);
    // A 3×3 conv (not a 1×1 expansion) + Relu before the depthwise conv: nothing to fuse.
    let c = conv_case(
        vec![
            node("Relu", &["c"], &["r"], Attrs::new()),
            node("Conv", &["r", "wd"], &["y"], attrs(&[("group", Attr::Int(4)), ("pads", Attr::Ints(vec![1; 4]))])),
        ],
        vec![("wd", rand(&[4, 1, 3, 3], 9))],
        "y",
    );
    let mut g = c.g.clone();
    FuseActivation.run(&mut g).unwrap();
    check(Case { g, feeds: c.feeds }, &FuseExpandDepthwise, 0);
}

#[test]
fn expand_and_depthwise_kept_when_not_fusable() {
    // The expanded tensor is also a graph output.
    check(expand_dw_case(&[], true), &FuseExpandDepthwise, 0);
    // Outputs too narrow for the fusion to pay (28 wide; 29 wide fuses).
    check(expand_dw_case_w(&[("pads", Attr::Ints(vec![1; 4]))], false, 28), &FuseExpandDepthwise, 0);
    check(expand_dw_case_w(&[("pads", Attr::Ints(vec![1; 4]))], false, 29), &FuseExpandDepthwise, 1);
    // Dilations, auto_pad, a 2×1 stride: outside what the fused kernel takes.
    check(expand_dw_case(&[("dilations", Attr::Ints(vec![2, 2]))], false), &FuseExpandDepthwise, 0);
    check(expand_dw_case(&[("auto_pad", Attr::String(b"SAME_UPPER".to_vec()))], false), &FuseExpandDepthwise, 0);
    check(expand_dw_case(&[("strides", Attr::Ints(vec![2, 1]))], false), &FuseExpandDepthwise, 0);
}

/// The erf GELU as PyTorch exports it.
fn gelu_nodes(x: &str, out: &str) -> Vec<Node> {
    vec![
        node("Div", &[x, "sqrt2"], &["gd"], Attrs::new()),
        node("Erf", &["gd"], &["ge"], Attrs::new()),
        node("Add", &["ge", "one"], &["ga"], Attrs::new()),
        node("Mul", &[x, "ga"], &["gm"], Attrs::new()),
        node("Mul", &["gm", "half"], &[out], Attrs::new()),
    ]
}

fn gelu_consts() -> Vec<(&'static str, Tensor)> {
    vec![
        ("sqrt2", Tensor::scalar(std::f32::consts::SQRT_2)),
        ("one", Tensor::scalar(1.0f32)),
        ("half", Tensor::scalar(0.5f32)),
    ]
}

#[test]
fn gelu_is_recognized_then_fused_with_matmul_and_bias() {
    let mut inits = gelu_consts();
    inits.extend([("w", rand(&[4, 6], 1)), ("b", rand(&[6], 2))]);
    let mut nodes =
        vec![node("MatMul", &["x", "w"], &["m"], Attrs::new()), node("Add", &["b", "m"], &["h"], Attrs::new())];
    nodes.extend(gelu_nodes("h", "y"));
    let c = case(&[("x", &[2, 3, 4])], &["y"], inits, nodes);
    let before = run(&c.g, &c.feeds);
    assert_eq!(check(Case { g: c.g.clone(), feeds: c.feeds.clone() }, &FuseGelu, 1), ["MatMul", "Add", "Gelu"]);
    let mut g = c.g.clone();
    for p in [&FuseGelu as &dyn Pass, &FuseMatMulBias, &FuseActivation, &DeadCode] {
        p.run(&mut g).unwrap();
    }
    assert_eq!(g.nodes.len(), 1);
    assert_eq!(g.nodes[0].op_type, "FusedMatMul");
    assert!(matches!(g.nodes[0].attrs.get("activation"), Some(Attr::String(s)) if s == b"Gelu"));
    let after = run(&g, &c.feeds);
    let (a, b) = (after[0].to_f64_vec(), before[0].to_f64_vec());
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5));
}

#[test]
fn matmul_bias_needs_a_last_axis_bias() {
    // A bias of shape [3, 1] broadcasts along rows: not a FusedMatMul bias.
    let c = case(
        &[("x", &[3, 4])],
        &["y"],
        vec![("w", rand(&[4, 5], 1)), ("b", rand(&[3, 1], 2))],
        vec![node("MatMul", &["x", "w"], &["m"], Attrs::new()), node("Add", &["m", "b"], &["y"], Attrs::new())],
    );
    check(c, &FuseMatMulBias, 0);
    let c = case(
        &[("x", &[2, 3, 4])],
        &["y"],
        vec![("w", rand(&[4, 5], 1)), ("b", rand(&[1, 1, 5], 2))],
        vec![node("MatMul", &["x", "w"], &["m"], Attrs::new()), node("Add", &["m", "b"], &["y"], Attrs::new())],
    );
    assert_eq!(check(c, &FuseMatMulBias, 1), ["FusedMatMul"]);
}

#[test]
fn layernorm_decomposition_is_recognized() {
    let c = case(
        &[("x", &[2, 3, 8])],
        &["y"],
        vec![
            ("axes", ints(&[-1])),
            ("two", Tensor::scalar(2.0f32)),
            ("eps", Tensor::scalar(1e-5f32)),
            ("gamma", rand(&[8], 3)),
            ("beta", rand(&[8], 4)),
        ],
        vec![
            node("ReduceMean", &["x", "axes"], &["m"], Attrs::new()),
            node("Sub", &["x", "m"], &["d"], Attrs::new()),
            node("Pow", &["d", "two"], &["p"], Attrs::new()),
            node("ReduceMean", &["p", "axes"], &["v"], Attrs::new()),
            node("Add", &["v", "eps"], &["ve"], Attrs::new()),
            node("Sqrt", &["ve"], &["s"], Attrs::new()),
            node("Div", &["d", "s"], &["n"], Attrs::new()),
            node("Mul", &["n", "gamma"], &["ng"], Attrs::new()),
            node("Add", &["ng", "beta"], &["y"], Attrs::new()),
        ],
    );
    assert_eq!(check(c, &FuseLayerNorm, 1), ["LayerNormalization"]);
}

#[test]
fn attention_is_recognized() {
    let c = case(
        &[("q", &[2, 3, 4, 8]), ("kt", &[2, 3, 8, 5]), ("v", &[2, 3, 5, 8]), ("mask", &[2, 1, 1, 5])],
        &["y"],
        vec![("scale", Tensor::scalar(0.35f32))],
        vec![
            node("MatMul", &["q", "kt"], &["s"], Attrs::new()),
            node("Mul", &["s", "scale"], &["ss"], Attrs::new()),
            node("Add", &["ss", "mask"], &["sm"], Attrs::new()),
            node("Softmax", &["sm"], &["p"], attrs(&[("axis", Attr::Int(-1))])),
            node("MatMul", &["p", "v"], &["y"], Attrs::new()),
        ],
    );
    assert_eq!(check(c, &FuseAttention, 1), ["FusedAttention"]);
}

#[test]
fn attention_with_enlarging_mask_is_kept() {
    // The mask's extra leading dim would enlarge the scores.
    let c = case(
        &[("q", &[3, 4, 8]), ("kt", &[3, 8, 5]), ("v", &[3, 5, 8]), ("mask", &[2, 3, 4, 5])],
        &["y"],
        vec![],
        vec![
            node("MatMul", &["q", "kt"], &["s"], Attrs::new()),
            node("Add", &["s", "mask"], &["sm"], Attrs::new()),
            node("Softmax", &["sm"], &["p"], attrs(&[("axis", Attr::Int(-1))])),
            node("MatMul", &["p", "v"], &["y"], Attrs::new()),
        ],
    );
    check(c, &FuseAttention, 0);
}

#[test]
fn elementwise_chains_fuse() {
    let c = case(
        &[("a", &[2, 3, 4]), ("b", &[2, 3, 4]), ("z", &[4])],
        &["y"],
        vec![("k", Tensor::scalar(1.5f32))],
        vec![
            node("Add", &["a", "b"], &["s"], Attrs::new()),
            node("Relu", &["s"], &["r"], Attrs::new()),
            node("Mul", &["k", "r"], &["m"], Attrs::new()),
            node("Sub", &["z", "m"], &["d"], Attrs::new()),
            node("Sigmoid", &["d"], &["y"], Attrs::new()),
        ],
    );
    assert_eq!(check(c, &FuseElementwise, 1), ["FusedElementwise"]);
}

#[test]
fn optimize_runs_every_pass_and_honours_disabled() {
    let c = conv_case(vec![node("Relu", &["c"], &["y"], Attrs::new())], vec![], "y");
    let mut g = c.g.clone();
    let report = optimize(&mut g, &PassOptions::default()).unwrap();
    assert_eq!(report.len(), pass_names().len());
    assert_eq!(g.nodes[0].op_type, "FusedConv");
    let mut g = c.g.clone();
    let report = optimize(&mut g, &PassOptions::default().disable("fuse_activation")).unwrap();
    assert!(report.iter().all(|(p, _)| *p != "fuse_activation"));
    assert_eq!(g.nodes.len(), 2);
    assert!(optimize(&mut g, &PassOptions::default().disable("nope")).is_err());
}

#[test]
fn residual_add_fuses_into_conv() {
    // ResNet-style: Conv → Add(conv, x2) → Relu, the residual computed after the conv (the fused
    // node takes the Add's place); MobileNet-style: 1×1 Conv → Add(x, conv) with no activation.
    let nodes = vec![
        node("Conv", &["x", "w", "b"], &["c"], attrs(&[("pads", Attr::Ints(vec![1, 1, 1, 1]))])),
        node("Relu", &["x"], &["r"], Attrs::new()),
        node("Conv", &["r", "wr"], &["z"], attrs(&[("pads", Attr::Ints(vec![1, 1, 1, 1]))])),
        node("Add", &["c", "z"], &["s"], Attrs::new()),
        node("Relu", &["s"], &["t"], Attrs::new()),
        node("Conv", &["t", "wp", "bp"], &["p"], Attrs::new()),
        node("Add", &["t", "p"], &["y"], Attrs::new()),
    ];
    let inits = vec![
        ("w", rand(&[4, 3, 3, 3], 1)),
        ("b", rand(&[4], 2)),
        ("wr", rand(&[4, 3, 3, 3], 3)),
        ("wp", rand(&[4, 4, 1, 1], 4)),
        ("bp", rand(&[4], 5)),
    ];
    let c = case(&[("x", &[2, 3, 5, 5])], &["y"], inits, nodes);
    assert_eq!(check(c, &FuseConvAdd, 2), ["Relu", "Conv", "FusedConv", "FusedConv"]);
}

#[test]
fn residual_add_not_fused_where_invalid() {
    // The conv's activation comes before the Add; the Add broadcasts; the conv output is read
    // twice; the residual is a constant.
    let relu = attrs(&[("activation", Attr::String(b"Relu".to_vec())), ("pads", Attr::Ints(vec![1, 1, 1, 1]))]);
    let pads = || attrs(&[("pads", Attr::Ints(vec![1, 1, 1, 1]))]);
    let c = conv_case(
        vec![
            node("Relu", &["c"], &["r"], Attrs::new()),
            node("FusedConv", &["r", "w2"], &["f"], relu),
            node("Add", &["f", "r"], &["a"], Attrs::new()),
            node("Conv", &["a", "w2"], &["c2"], pads()),
            node("Relu", &["row"], &["rowr"], Attrs::new()),
            node("Add", &["c2", "rowr"], &["a2"], Attrs::new()),
            node("Conv", &["a2", "w2"], &["c3"], pads()),
            node("Add", &["c3", "c3"], &["a3"], Attrs::new()),
            node("Conv", &["a3", "w2"], &["c4"], pads()),
            node("Add", &["c4", "k"], &["y"], Attrs::new()),
        ],
        vec![("w2", rand(&[4, 4, 3, 3], 9)), ("row", rand(&[1, 4, 1, 5], 10)), ("k", rand(&[2, 4, 5, 5], 11))],
        "y",
    );
    check(c, &FuseConvAdd, 0);
}

#[test]
fn inference_keeps_the_type_through_data_dependent_ops() {
    // Detection exports pad the image by amounts computed at run time (retinanet's transform):
    // Pad's output shape is unknowable, but its type is the input's, and so is every conv's after.
    let mut c = case(
        &[("x", &[1, 3, 5, 5])],
        &["y"],
        vec![("w", rand(&[4, 3, 3, 3], 1)), ("b", rand(&[4], 2))],
        vec![
            node("Pad", &["x", "pads"], &["p"], Attrs::new()),
            node("Conv", &["p", "w", "b"], &["c"], Attrs::new()),
            node("Relu", &["c"], &["r"], Attrs::new()),
            node("Split", &["r"], &["s0", "s1"], attrs(&[("axis", Attr::Int(1))])),
            node("Shape", &["s1"], &["sh"], Attrs::new()),
            node("Add", &["s0", "s1"], &["y"], Attrs::new()),
        ],
    );
    c.g.inputs.push(ValueInfo::new("pads", Some(crate::DType::I64), Some(vec![Dim::Known(8)])));
    let infos = crate::infer::infer_graph(&c.g);
    let dtype = |v: &str| infos.get(v).and_then(|i| i.dtype);
    for v in ["p", "c", "r", "s0", "s1", "y"] {
        assert_eq!(dtype(v), Some(crate::DType::F32), "{v}");
    }
    assert_eq!(dtype("sh"), Some(crate::DType::I64));
    // With the type known, the activation fuses by the output's type as for any conv.
    c.feeds.push(("pads".into(), Tensor::from_vec(vec![8], vec![0i64, 0, 1, 0, 0, 0, 0, 1]).unwrap()));
    assert_eq!(check(c, &FuseActivation, 1)[0], "Pad");
}

#[test]
fn residual_add_fuses_into_matmul() {
    // A Transformer's residual: FusedMatMul(x, w, b) + x; a plain MatMul + residual → Relu (the
    // activation comes along); then the invalid cases: an activation before the Add, a residual
    // that broadcasts, a constant one.
    let relu = attrs(&[("activation", Attr::String(b"Relu".to_vec()))]);
    let nodes = vec![
        node("FusedMatMul", &["x", "w", "b"], &["m"], Attrs::new()),
        node("Add", &["m", "x"], &["s"], Attrs::new()),
        node("MatMul", &["s", "w2"], &["m2"], Attrs::new()),
        node("Add", &["s", "m2"], &["s2"], Attrs::new()),
        node("Relu", &["s2"], &["r"], Attrs::new()),
        node("FusedMatMul", &["r", "w"], &["m3"], relu),
        node("Add", &["m3", "r"], &["s3"], Attrs::new()),
        node("MatMul", &["s3", "w"], &["m4"], Attrs::new()),
        node("Add", &["m4", "row"], &["s4"], Attrs::new()),
        node("MatMul", &["s4", "w2"], &["m5"], Attrs::new()),
        node("Add", &["m5", "k"], &["y"], Attrs::new()),
    ];
    let inits =
        vec![("w", rand(&[8, 8], 1)), ("b", rand(&[8], 2)), ("w2", rand(&[8, 8], 3)), ("k", rand(&[2, 5, 8], 5))];
    let c = case(&[("x", &[2, 5, 8]), ("row", &[8])], &["y"], inits, nodes);
    let ops = check(c, &FuseMatMulAdd, 2);
    assert_eq!(ops[..2], ["FusedMatMul", "FusedMatMul"]);
    assert_eq!(ops.len(), 8);
}
