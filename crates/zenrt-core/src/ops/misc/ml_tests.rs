//! ai.onnx.ml unit tests: values worked out by hand (leaf-only and empty forests, NaN routes,
//! string labels, post transforms) and malformed attributes, which must give errors, not panics.
//! The comparison with ONNX Runtime on many more cases is `crates/zenrt/tests/sklearn_models.rs`.

use crate::ops::{BuildCtx, BuildFn, ExecCtx, Op};
use crate::{Attr, Attrs, Graph, Result, Tensor, Value};
use std::sync::Arc;

struct NoSub;
impl ExecCtx for NoSub {
    fn run_subgraph_values(&self, _: &Arc<Graph>, _: Vec<Value>) -> Result<Vec<Value>> {
        Err(crate::Error::Invalid("no subgraphs here".into()))
    }
}

fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}
fn floats(v: &[f32]) -> Attr {
    Attr::Floats(v.to_vec())
}
fn strs(v: &[&str]) -> Attr {
    Attr::Strings(v.iter().map(|s| s.as_bytes().to_vec()).collect())
}
fn string(s: &str) -> Attr {
    Attr::String(s.as_bytes().to_vec())
}

fn build(f: BuildFn, op_type: &str, attrs: Vec<(&str, Attr)>) -> Result<Arc<dyn Op>> {
    let attrs: Attrs = attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    f(&BuildCtx { node_name: "n", op_type, attrs: &attrs, opset: 3, n_inputs: 1, n_outputs: 2 })
}

fn run(op: &Arc<dyn Op>, x: Tensor) -> Result<Vec<Value>> {
    let v = Value::from(x);
    op.run_values(&NoSub, &[Some(&v)])
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_tensor().unwrap().as_slice::<f32>().unwrap().to_vec()
}

fn x(rows: usize, v: &[f32]) -> Tensor {
    Tensor::from_vec(vec![rows, v.len() / rows], v.to_vec()).unwrap()
}

/// One tree: node 0 `x0 <= 0.5` (NaN goes true) -> leaf 1 (weight 10) / node 2 `x1 < 1` -> leaves 3 (20), 4 (30).
fn tree_attrs() -> Vec<(&'static str, Attr)> {
    vec![
        ("nodes_treeids", ints(&[0, 0, 0, 0, 0])),
        ("nodes_nodeids", ints(&[0, 1, 2, 3, 4])),
        ("nodes_featureids", ints(&[0, 0, 1, 0, 0])),
        ("nodes_modes", strs(&["BRANCH_LEQ", "LEAF", "BRANCH_LT", "LEAF", "LEAF"])),
        ("nodes_values", floats(&[0.5, 0.0, 1.0, 0.0, 0.0])),
        ("nodes_truenodeids", ints(&[1, 0, 3, 0, 0])),
        ("nodes_falsenodeids", ints(&[2, 0, 4, 0, 0])),
        ("nodes_missing_value_tracks_true", ints(&[1, 0, 0, 0, 0])),
        ("target_treeids", ints(&[0, 0, 0])),
        ("target_nodeids", ints(&[1, 3, 4])),
        ("target_ids", ints(&[0, 0, 0])),
        ("target_weights", floats(&[10.0, 20.0, 30.0])),
    ]
}

fn regressor(attrs: Vec<(&'static str, Attr)>) -> Result<Arc<dyn Op>> {
    build(super::tree_ensemble::build_regressor, "TreeEnsembleRegressor", attrs)
}

#[test]
fn tree_routes_thresholds_and_nan() {
    let op = regressor(tree_attrs()).unwrap();
    // 0.5 <= 0.5 -> 10; NaN tracks true -> 10; 0.6, x1 = 1 (not < 1) -> 30; x1 NaN (no track) -> 30; x1 0.9 -> 20.
    let y = run(&op, x(5, &[0.5, 5., f32::NAN, 5., 0.6, 1., 0.6, f32::NAN, 0.6, 0.9])).unwrap();
    assert_eq!(f32s(&y[0]), [10., 10., 30., 30., 20.]);
}

#[test]
fn leaf_only_and_empty_forests_give_base_values() {
    let mut leaf_only = vec![
        ("nodes_treeids", ints(&[0])),
        ("nodes_nodeids", ints(&[0])),
        ("nodes_featureids", ints(&[0])),
        ("nodes_modes", strs(&["LEAF"])),
        ("nodes_values", floats(&[0.0])),
        ("nodes_truenodeids", ints(&[0])),
        ("nodes_falsenodeids", ints(&[0])),
        ("target_treeids", ints(&[0])),
        ("target_nodeids", ints(&[0])),
        ("target_ids", ints(&[0])),
        ("target_weights", floats(&[2.5])),
        ("base_values", floats(&[1.0])),
    ];
    let op = regressor(leaf_only.clone()).unwrap();
    assert_eq!(f32s(&run(&op, x(2, &[0., 1.])).unwrap()[0]), [3.5, 3.5]);
    for (_, v) in leaf_only.iter_mut().take(11) {
        *v = match v {
            Attr::Ints(_) => ints(&[]),
            Attr::Floats(_) => floats(&[]),
            _ => strs(&[]),
        };
    }
    let op = regressor(leaf_only).unwrap();
    assert_eq!(f32s(&run(&op, x(2, &[0., 1.])).unwrap()[0]), [1.0, 1.0]);
}

#[test]
fn bad_tree_attributes_are_errors() {
    let with = |name: &str, v: Attr| {
        let mut a = tree_attrs();
        a.iter_mut().filter(|(k, _)| *k == name).for_each(|(_, old)| *old = v.clone());
        regressor(a)
    };
    // Mismatched lengths, a branch to a node that does not exist, a weight on a missing node,
    // a target id out of range, an unknown mode.
    assert!(with("nodes_values", floats(&[0.5])).is_err());
    assert!(with("nodes_truenodeids", ints(&[1, 0, 9, 0, 0])).is_err());
    assert!(with("target_nodeids", ints(&[1, 3, 7])).is_err());
    assert!(with("target_ids", ints(&[0, 0, 1])).is_err());
    assert!(with("target_ids", ints(&[0, 0, -1])).is_err());
    assert!(with("nodes_modes", strs(&["BRANCH_LEQ", "LEAF", "BRANCH_XX", "LEAF", "LEAF"])).is_err());
    assert!(with("nodes_featureids", ints(&[-1, 0, 1, 0, 0])).is_err());
    // A branch back to its own node leaves two unreferenced nodes (two roots); a cycle below
    // the root is found at run time.
    assert!(with("nodes_falsenodeids", ints(&[2, 0, 2, 0, 0])).is_err());
    let mut cyc = tree_attrs();
    for (k, v) in cyc.iter_mut() {
        match *k {
            "nodes_truenodeids" => *v = ints(&[1, 4, 3, 0, 0]),
            "nodes_falsenodeids" => *v = ints(&[2, 1, 4, 0, 0]),
            "nodes_modes" => *v = strs(&["BRANCH_LEQ", "BRANCH_LT", "BRANCH_LT", "LEAF", "LEAF"]),
            "target_nodeids" => *v = ints(&[3, 3, 4]),
            _ => {}
        }
    }
    let op = regressor(cyc).unwrap();
    // x0 <= 0.5 -> node 1; x0 = 0.2 is not < 0 -> node 1 again, forever.
    assert!(run(&op, x(1, &[0.2, 5.0])).is_err());
    // A feature past the input's width is an error at run time.
    let op = with("nodes_featureids", ints(&[0, 0, 7, 0, 0])).unwrap();
    assert!(run(&op, x(1, &[0.6, 5.0])).is_err());
}

#[test]
fn classifier_string_labels_and_softmax() {
    // Leaves: node 1 -> class "b" 2.0; node 3 -> "a" 1.0, "c" 1.0; node 4 -> "c" 3.0.
    let mut a: Vec<(&str, Attr)> = tree_attrs().into_iter().filter(|(k, _)| !k.starts_with("target_")).collect();
    a.extend([
        ("class_treeids", ints(&[0, 0, 0, 0])),
        ("class_nodeids", ints(&[1, 3, 3, 4])),
        ("class_ids", ints(&[1, 0, 2, 2])),
        ("class_weights", floats(&[2.0, 1.0, 1.0, 3.0])),
        ("classlabels_strings", strs(&["a", "b", "c"])),
        ("post_transform", string("SOFTMAX")),
    ]);
    let op = build(super::tree_ensemble::build_classifier, "TreeEnsembleClassifier", a).unwrap();
    let out = run(&op, x(2, &[0.0, 0.0, 1.0, 0.5])).unwrap();
    let Value::Strings(labels) = &out[0] else { panic!("labels are not strings") };
    assert_eq!(labels.data, ["b", "a"]);
    let p = f32s(&out[1]);
    // Row 0: scores (0, 2, 0) -> softmax; row 1: (1, 0, 1) -> ties pick the first class.
    let e2 = 2f64.exp();
    let want = [1. / (e2 + 2.), e2 / (e2 + 2.), 1. / (e2 + 2.), 1. / (2. + 1. / std::f64::consts::E), 0., 0.];
    for (g, w) in p.iter().zip(want).take(4) {
        assert!((*g as f64 - w).abs() < 1e-6, "{p:?}");
    }
}

#[test]
fn linear_classifier_binary_and_post_transforms() {
    let lc = |post: &str, labels: Attr, coef: &[f32], icpt: &[f32]| {
        let key = if matches!(labels, Attr::Strings(_)) { "classlabels_strings" } else { "classlabels_ints" };
        build(
            super::linear::build_classifier,
            "LinearClassifier",
            vec![
                (key, labels),
                ("coefficients", floats(coef)),
                ("intercepts", floats(icpt)),
                ("post_transform", string(post)),
            ],
        )
        .unwrap()
    };
    // Binary, one coefficient row: score s = 2 x - 1; LOGISTIC gives [1 - σ(s), σ(s)].
    let op = lc("LOGISTIC", strs(&["no", "yes"]), &[2.0], &[-1.0]);
    let out = run(&op, x(2, &[1.0, 0.0])).unwrap();
    let Value::Strings(l) = &out[0] else { panic!() };
    assert_eq!(l.data, ["yes", "no"]);
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let s = f32s(&out[1]);
    for (g, w) in s.iter().zip([1.0 - sig(1.0), sig(1.0), 1.0 - sig(-1.0), sig(-1.0)]) {
        assert!((*g as f64 - w).abs() < 1e-6);
    }
    // SOFTMAX_ZERO keeps a zero score at zero weight.
    let op = lc("SOFTMAX_ZERO", ints(&[5, 6, 7]), &[1.0, 0.0, -1.0], &[0.0, 0.0, 0.0]);
    let out = run(&op, x(1, &[1.0])).unwrap();
    assert_eq!(out[0].as_tensor().unwrap().to_i64_vec(), [5]);
    let s = f32s(&out[1]);
    let (e0, e2) = (1.0, (-2f64).exp());
    for (g, w) in s.iter().zip([e0 / (e0 + e2), 0.0, e2 / (e0 + e2)]) {
        assert!((*g as f64 - w).abs() < 1e-6, "{s:?}");
    }
    // Coefficients that do not fit the features are an error.
    assert!(run(&lc("NONE", ints(&[0, 1, 2]), &[1.0, 2.0], &[0.0; 3]), x(1, &[1.0, 2.0, 3.0])).is_err());
}

#[test]
fn svm_and_zipmap_refuse_bad_shapes() {
    let svm = build(
        super::svm::build_classifier,
        "SVMClassifier",
        vec![
            ("classlabels_ints", ints(&[0, 1, 2])),
            ("vectors_per_class", ints(&[1, 1])),
            ("support_vectors", floats(&[0.0, 1.0])),
            ("coefficients", floats(&[1.0, 1.0, 1.0, 1.0])),
            ("rho", floats(&[0.0, 0.0, 0.0])),
        ],
    );
    assert!(svm.is_err(), "vectors_per_class for 2 of 3 classes");
    let zm = build(super::zipmap::build, "ZipMap", vec![("classlabels_int64s", ints(&[1, 2]))]).unwrap();
    assert!(run(&zm, x(1, &[0.5, 0.2, 0.3])).is_err());
    let out = run(&zm, x(2, &[0.5, 0.5, 0.1, 0.9])).unwrap();
    let Value::Maps(m) = &out[0] else { panic!() };
    assert_eq!((m.len(), m.keys.display(1)), (2, "2".to_string()));
}
