#!/usr/bin/env python3
"""Train small scikit-learn models on the bundled datasets (no download), export them with skl2onnx and
store ONNX Runtime's outputs (and scikit-learn's own predictions) next to each model.

    python3 scripts/export_sklearn.py [OUT_DIR]      (default ~/.cache/zenrt/sklearn)

OUT_DIR/<name>/: model.onnx, inputs.npz (the graph inputs by name), expected.npz (ORT's outputs by name;
a ZipMap output is stored as a float32 [N, C] array of the probabilities in key order, its keys one per
line in <output>.keys.txt; a string output is <output>.strings.txt, one per line), sklearn.npz
(scikit-learn's predict / predict_proba; string labels in sklearn_label.strings.txt) and meta.json (the
operators used). Besides the trained models, single-operator models ("op_*") cover what the exports do
not: every branch mode, NaN inputs, aggregates, base values, post transforms, binary and string-label
classifiers, SVM kernels; their expected outputs are ORT's too. Takes a few seconds.
"""
import json
import os
import sys
import warnings

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, Normalizer, OneHotEncoder, StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

warnings.filterwarnings("ignore")


def mixed_data():
    """Breast-cancer features with NaNs punched in plus two int64 categorical columns derived from them."""
    d = load_breast_cancer()
    rng = np.random.default_rng(0)
    x = d.data[:, :6].astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    cats = np.stack([(d.data[:, 7] * 40).astype(np.int64) % 4, (d.data[:, 8] * 30).astype(np.int64) % 3], 1)
    return x, cats, d.target


def models():
    """(name, fitted model, {input name: array}, sklearn predictions {name: array})."""
    rng = np.random.default_rng(0)
    iris, digits, diab, bc = load_iris(), load_digits(), load_diabetes(), load_breast_cancer()
    xi, yi = iris.data.astype(np.float32), iris.target
    xd, yd = digits.data.astype(np.float32), digits.target
    xr, yr = diab.data.astype(np.float32), diab.target
    xb, yb = bc.data.astype(np.float32), bc.target
    pick = lambda x, n: x[rng.permutation(len(x))[:n]]  # noqa: E731
    out = []

    def clf(name, m, x, y, xt, zipmap=True, **opts):
        m.fit(x, y)
        o = {"zipmap": False} if zipmap is False else {}
        o.update(opts)
        out.append((name, m, {"X": xt}, {"label": m.predict(xt), "proba": getattr(m, "predict_proba", m.predict)(xt)},
                    o))

    def reg(name, m, x, y, xt):
        m.fit(x, y)
        out.append((name, m, {"X": xt}, {"variable": m.predict(xt)}, {}))

    clf("logreg_zipmap", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), xi, yi, pick(xi, 40))
    clf("logreg_tensor", make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), xi, yi, pick(xi, 40),
        zipmap=False)
    clf("logreg_binary", make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=500)), xb, yb, pick(xb, 40))
    clf("logreg_strings", make_pipeline(Normalizer(), LogisticRegression(max_iter=500)), xi,
        iris.target_names[yi], pick(xi, 40))
    clf("random_forest", RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0), xd, yd, pick(xd, 50))
    clf("decision_tree", DecisionTreeClassifier(max_depth=5, random_state=0), xb, yb, pick(xb, 50))
    clf("svc_rbf", make_pipeline(StandardScaler(), SVC(probability=True, random_state=0)), xi, yi, pick(xi, 40))
    clf("svc_poly_binary", SVC(kernel="poly", degree=3, probability=True, random_state=0), xb[:, :5], yb,
        pick(xb[:, :5], 40))
    clf("linear_svc", LinearSVC(), xd / 16, yd, pick(xd / 16, 40), zipmap=None)
    clf("mlp", make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=300,
                                                             random_state=0)), xd, yd, pick(xd, 40))
    clf("knn", KNeighborsClassifier(n_neighbors=5), xi, yi, pick(xi, 40))
    reg("gbr", GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0), xr, yr, pick(xr, 40))
    reg("rf_regressor", RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0), xr, yr, pick(xr, 40))
    reg("tree_regressor", DecisionTreeRegressor(max_depth=4, random_state=0), xr, yr, pick(xr, 40))
    reg("linear_svr", make_pipeline(StandardScaler(), LinearSVR(max_iter=5000, random_state=0)), xr, yr, pick(xr, 40))
    reg("svr_sigmoid", SVR(kernel="sigmoid", gamma=0.5), xr, yr, pick(xr, 40))
    reg("linear_regression", LinearRegression(), xr, yr, pick(xr, 40))
    xm, cm, ym = mixed_data()
    xc = np.concatenate([xm, cm.astype(np.float32)], 1)
    ct = ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), [0, 1, 2, 3, 4, 5]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), [6, 7])])
    clf("column_transformer", make_pipeline(ct, LogisticRegression(max_iter=1000)), xc, ym, pick(xc, 40))
    return out


def write_lines(path, items):
    with open(path, "w") as f:
        f.write("".join(f"{s}\n" for s in items))


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/zenrt/sklearn")
    os.makedirs(root, exist_ok=True)
    for name, m, feeds, skl, opts in models():
        x = feeds["X"]
        last = m.steps[-1][1] if hasattr(m, "steps") else m
        onx = to_onnx(m, x[:1], options={id(last): opts} if opts else None, target_opset={"": 17, "ai.onnx.ml": 3})
        save(root, name, onx, feeds, skl)
    from sklearn_op_cases import op_cases

    for name, onx, feeds in op_cases():
        try:
            save(root, name, onx, feeds, {})
        except Exception as e:  # noqa: BLE001  (a case ORT refuses is left out, and said so)
            print(f"{name}: skipped, ONNX Runtime refused it: {str(e)[:200]}")


def save(root, name, onx, feeds, skl):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(onx.SerializeToString())
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    res = sess.run(None, feeds)
    expected, meta = {}, {}
    for n, r in zip(names, res):
        if isinstance(r, list):
            keys = list(r[0].keys()) if r else []
            expected[n] = np.array([[row[k] for k in keys] for row in r], dtype=np.float32)
            write_lines(os.path.join(d, f"{n}.keys.txt"), keys)
        elif r.dtype.kind in "OUS":
            write_lines(os.path.join(d, f"{n}.strings.txt"), r.ravel())
        else:
            expected[n] = r
    np.savez(os.path.join(d, "inputs.npz"), **feeds)
    np.savez(os.path.join(d, "expected.npz"), **expected)
    np.savez(os.path.join(d, "sklearn.npz"), **{k: v for k, v in skl.items() if v.dtype.kind not in "OUS"})
    for k, v in skl.items():
        if v.dtype.kind in "OUS":
            write_lines(os.path.join(d, f"sklearn_{k}.strings.txt"), v.ravel())
    meta["ops"] = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in onx.graph.node})
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: {', '.join(meta['ops'])}")


if __name__ == "__main__":
    main()
