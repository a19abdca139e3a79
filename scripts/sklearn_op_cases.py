"""Single-operator ai.onnx.ml models for scripts/export_sklearn.py: the cases that the trained exports do not
reach (branch modes, NaN inputs, aggregates, base values, post transforms, binary and string labels, SVM
kernels, MAX/L1/L2 norms). Each is (name, ModelProto, {input: array}); the expected outputs come from ORT."""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def model(op, inputs, outputs, ml_opset=3, **attrs):
    """One ai.onnx.ml node; inputs/outputs are (name, elem_type, shape) triples."""
    node = helper.make_node(op, [i[0] for i in inputs], [o[0] for o in outputs], domain="ai.onnx.ml", **attrs)
    vi = lambda t: helper.make_tensor_value_info(*t)  # noqa: E731
    g = helper.make_graph([node], f"op_{op}", [vi(i) for i in inputs], [vi(o) for o in outputs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", ml_opset)])
    m.ir_version = 8
    return m


def classifier(op, labels, n, **attrs):
    lt = TensorProto.STRING if isinstance(labels[0], str) else TensorProto.INT64
    key = "classlabels_strings" if lt == TensorProto.STRING else (
        "classlabels_int64s" if op == "TreeEnsembleClassifier" else "classlabels_ints")
    return model(op, [("X", F, [None, n])], [("label", lt, [None]), ("scores", F, [None, None])],
                 **{key: labels}, **attrs)


def regressor(op, n, n_out=1, **attrs):
    return model(op, [("X", F, [None, n])], [("Y", F, [None, n_out])], **attrs)


def tree_attrs(trees, prefix):
    """trees: list of node lists (id, mode, feature, value, true, false, missing, leaf_weights{target: w})."""
    a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_modes", "nodes_featureids", "nodes_values",
                         "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true"]}
    a.update({f"{prefix}_{k}": [] for k in ["treeids", "nodeids", "ids", "weights"]})
    for t, nodes in enumerate(trees):
        for nid, mode, feat, val, tr, fa, miss, leaf in nodes:
            for k, v in zip(a, [t, nid, mode, feat, val, tr, fa, miss]):
                a[k].append(v)
            for target, w in (leaf or {}).items():
                for k, v in zip(list(a)[8:], [t, nid, target, w]):
                    a[k].append(v)
    return a


def op_cases():
    rng = np.random.default_rng(1)
    x4 = rng.normal(size=(12, 4)).astype(np.float32)
    out = []
    # Every branch mode on one tree, thresholds hit exactly, NaN with and without missing tracks.
    modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
    xm = np.array([[0.5, 1, 2, 3], [0.6, 1, 2, 3], [0.4, 0, 2, 3], [0.5, 1.5, 2.5, 3], [np.nan, 1, 2, 3],
                   [0.5, np.nan, np.nan, 3], [0, 0, 0, 0], [1, 1, 1, 1], [0.5, 1, 1.9, np.nan]], np.float32)
    for k, mode in enumerate(modes):
        other = modes[(k + 2) % 6]
        nodes = [(0, mode, 0, 0.5, 1, 2, 0, None), (1, other, 1, 1.0, 3, 4, 1, None), (2, mode, 2, 2.0, 5, 6, 0, None),
                 (3, "LEAF", 0, 0, 0, 0, 0, {0: 1.0}), (4, "LEAF", 0, 0, 0, 0, 0, {0: 2.0}),
                 (5, "LEAF", 0, 0, 0, 0, 0, {0: 3.0}), (6, "LEAF", 0, 0, 0, 0, 0, {0: 4.0})]
        out.append((f"op_tree_{mode.lower()}", regressor("TreeEnsembleRegressor", 4, n_targets=1, base_values=[0.25],
                                                         **tree_attrs([nodes], "target")), {"X": xm}))
    # Three trees, two targets, a leaf-only tree: each aggregate.
    trees = [
        [(0, "BRANCH_LEQ", 0, 0.0, 1, 2, 0, None), (1, "LEAF", 0, 0, 0, 0, 0, {0: 1.0, 1: -1.0}),
         (2, "LEAF", 0, 0, 0, 0, 0, {0: 3.0})],
        [(0, "BRANCH_GT", 1, 0.2, 1, 2, 0, None), (1, "LEAF", 0, 0, 0, 0, 0, {1: 2.0}),
         (2, "LEAF", 0, 0, 0, 0, 0, {0: -2.0, 1: 0.5})],
        [(0, "LEAF", 0, 0, 0, 0, 0, {0: 0.5, 1: 0.25})],
    ]
    for agg in ["SUM", "AVERAGE", "MIN", "MAX"]:
        out.append((f"op_tree_agg_{agg.lower()}", regressor("TreeEnsembleRegressor", 4, 2, n_targets=2,
                                                            aggregate_function=agg, base_values=[1.0, -1.0],
                                                            **tree_attrs(trees, "target")), {"X": x4}))
    # ml opset 3 doubles.
    a = tree_attrs(trees, "target")
    for k in ["nodes_values", "target_weights"]:
        a[k + "_as_tensor"] = numpy_helper.from_array(np.array(a.pop(k), np.float64))
    a["base_values_as_tensor"] = numpy_helper.from_array(np.array([0.5, 0.125]))
    m = regressor("TreeEnsembleRegressor", 4, 2, n_targets=2, **a)
    m.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    out.append(("op_tree_as_tensor", m, {"X": x4.astype(np.float64)}))
    # Classifiers: three string classes with softmax; binary with one weighted class (logistic, none).
    ctrees = [[(0, "BRANCH_LEQ", 2, 0.1, 1, 2, 1, None), (1, "LEAF", 0, 0, 0, 0, 0, {0: 0.7, 2: 0.1}),
               (2, "BRANCH_LT", 3, -0.3, 3, 4, 0, None), (3, "LEAF", 0, 0, 0, 0, 0, {1: 0.9}),
               (4, "LEAF", 0, 0, 0, 0, 0, {2: 0.6, 0: 0.2})]]
    xn = x4.copy()
    xn[0, 2] = np.nan
    for post in ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO"]:
        out.append((f"op_tree_classifier_{post.lower()}",
                    classifier("TreeEnsembleClassifier", ["a", "b", "c"], 4, post_transform=post,
                               base_values=[0.1, 0.0, -0.1], **tree_attrs(ctrees, "class")), {"X": xn}))
    btrees = [[(0, "BRANCH_LEQ", 0, 0.0, 1, 2, 0, None), (1, "LEAF", 0, 0, 0, 0, 0, {0: 0.2}),
               (2, "LEAF", 0, 0, 0, 0, 0, {0: 0.8})],
              [(0, "BRANCH_GT", 1, 0.5, 1, 2, 0, None), (1, "LEAF", 0, 0, 0, 0, 0, {0: -0.4}),
               (2, "LEAF", 0, 0, 0, 0, 0, {0: 0.3})]]
    for post in ["NONE", "LOGISTIC"]:
        out.append((f"op_tree_binary_{post.lower()}", classifier("TreeEnsembleClassifier", [3, 7], 4,
                                                                 post_transform=post, **tree_attrs(btrees, "class")),
                    {"X": x4}))
    # Linear models: every post transform, multiclass and binary, int and string labels.
    coef3 = rng.normal(size=(3, 4)).astype(np.float32) * 0.3
    for post in ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"]:
        c = np.abs(coef3) * 0.2 if post == "PROBIT" else coef3
        xin = np.abs(x4) * 0.5 if post == "PROBIT" else x4
        out.append((f"op_linear_classifier_{post.lower()}",
                    classifier("LinearClassifier", [10, 20, 30], 4, coefficients=c.ravel().tolist(),
                               intercepts=[0.1, 0.0, 0.05] if post != "PROBIT" else [0.1, 0.05, 0.2],
                               post_transform=post), {"X": xin}))
    for labels in [[0, 1], ["no", "yes"]]:
        out.append((f"op_linear_binary_{type(labels[0]).__name__}",
                    classifier("LinearClassifier", labels, 4, coefficients=coef3[0].tolist(), intercepts=[0.2],
                               post_transform="LOGISTIC"), {"X": x4}))
    out.append(("op_linear_regressor", regressor("LinearRegressor", 4, 2, targets=2,
                                                 coefficients=coef3[:2].ravel().tolist(), intercepts=[1.0, -2.0]),
                {"X": x4}))
    # Preprocessing.
    xz = x4.copy()
    xz[3] = 0
    for norm in ["MAX", "L1", "L2"]:
        out.append((f"op_normalizer_{norm.lower()}", model("Normalizer", [("X", F, [None, 4])], [("Y", F, [None, 4])],
                                                            norm=norm), {"X": xz}))
    out.append(("op_scaler", model("Scaler", [("X", F, [None, 4])], [("Y", F, [None, 4])], offset=[0.5, -1, 0, 2],
                                   scale=[2.0, 0.5, 1, -1]), {"X": x4}))
    xi = x4.copy()
    xi[rng.random(xi.shape) < 0.3] = np.nan
    out.append(("op_imputer", model("Imputer", [("X", F, [None, 4])], [("Y", F, [None, 4])],
                                    imputed_value_floats=[1.0, 2.0, 3.0, 4.5], replaced_value_float=float("nan")), {"X": xi}))
    cats = np.array([[1, 5], [3, 3], [9, 1]], np.int64)
    out.append(("op_one_hot", model("OneHotEncoder", [("X", TensorProto.INT64, [None, 2])],
                                    [("Y", F, [None, 2, 4])], cats_int64s=[1, 3, 5, 7], zeros=1), {"X": cats}))
    out.append(("op_feature_vectorizer", model("FeatureVectorizer", [("A", F, [None, 3]), ("B", F, [None, 2])],
                                               [("Y", F, [None, 4])], inputdimensions=[3, 1]),
                {"A": x4[:, :3].copy(), "B": x4[:, 2:].copy()}))
    # SVMs: linear mode, one-vs-one without probabilities (3 and 2 classes), regressors.
    sv = rng.normal(size=(5, 4)).astype(np.float32)
    out.append(("op_svm_linear", classifier("SVMClassifier", [0, 1, 2], 4, coefficients=coef3.ravel().tolist(),
                                            rho=[0.1], kernel_type="LINEAR", kernel_params=[0.0, 0.0, 0.0]), {"X": x4}))
    for k, params in [("POLY", [0.5, 1.0, 2]), ("RBF", [0.3, 0, 0]), ("SIGMOID", [0.2, 0.1, 0])]:
        out.append((f"op_svm_{k.lower()}", classifier(
            "SVMClassifier", [0, 1, 2], 4, kernel_type=k, kernel_params=params, vectors_per_class=[2, 2, 1],
            support_vectors=sv.ravel().tolist(), coefficients=rng.normal(size=10).tolist(),
            rho=[0.1, -0.2, 0.3]), {"X": x4}))
    out.append(("op_svm_binary", classifier("SVMClassifier", [4, 9], 4, kernel_type="RBF", kernel_params=[0.3, 0, 0],
                                            vectors_per_class=[2, 3], support_vectors=sv.ravel().tolist(),
                                            coefficients=rng.normal(size=5).tolist(), rho=[0.05]), {"X": x4}))
    out.append(("op_svm_regressor_rbf", regressor("SVMRegressor", 4, kernel_type="RBF", kernel_params=[0.3, 0, 0],
                                                  n_supports=5, support_vectors=sv.ravel().tolist(),
                                                  coefficients=rng.normal(size=5).tolist(), rho=[0.5]), {"X": x4}))
    out.append(("op_svm_regressor_one_class", regressor("SVMRegressor", 4, kernel_type="POLY",
                                                        kernel_params=[0.5, 0.2, 3], n_supports=5, one_class=1,
                                                        support_vectors=sv.ravel().tolist(),
                                                        coefficients=rng.normal(size=5).tolist(), rho=[0.1]),
                {"X": x4}))
    return out
