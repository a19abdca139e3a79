#!/usr/bin/env python3
"""Export real-architecture models (random weights) to ONNX + ORT reference outputs.

Usage:
    python3 scripts/export_models.py [OUTDIR] [--only a,b] [--force] [--opset 17]

Default OUTDIR: ~/.cache/zenrt/models

For every model NAME this writes:
    OUTDIR/NAME/model.onnx          torch.onnx.export (TorchScript exporter, dynamo=False)
    OUTDIR/NAME/b1_inputs.npz       keys = graph input names (batch 1)
    OUTDIR/NAME/b1_expected.npz     keys = graph output names, computed by onnxruntime CPU
    OUTDIR/NAME/b4_inputs.npz / b4_expected.npz   (batch 4)
    OUTDIR/NAME/meta.json           names, dtypes, shapes, opset, op histogram, checks
meta.json is written last and doubles as the "done" marker (re-runs skip such models).

No weights are ever downloaded: torchvision models use weights=None, BERT is built from
a BertConfig. All randomness is seeded. BatchNorm layers get random affine parameters and
running statistics calibrated on random data, so folded Conv+BN weights are non-trivial.
Each export is checked: onnx.checker, ORT at batch 1 and 4 (and an extra sequence length
for sequence models) against the PyTorch model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(os.path.expanduser("~/.cache/zenrt/models"))
BATCHES = (1, 4)
SEED = 1234

warnings.filterwarnings("ignore")


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- models
# Each builder returns a dict:
#   module, input_specs [(name, dtype, shape-with-"batch"/"seq"-strings, sampler)],
#   output_names, output_axes {name: {axis: sym}}, extra_check (batch, seq) or None


def _calibrate_bn(model, example_shape, steps: int = 2) -> None:
    """Random BN affine params + running stats estimated from random inputs."""
    import torch

    g = torch.Generator().manual_seed(SEED)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=g) * 0.5 + 0.75)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=g) * 0.1)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(steps):
            model(torch.randn(*example_shape, generator=g))
    model.eval()


def _image_model(ctor):
    def build():
        import torch

        torch.manual_seed(SEED)
        model = ctor(weights=None)
        _calibrate_bn(model, (8, 3, 224, 224))
        return dict(
            module=model.eval(),
            inputs=[("input", "float32", ["batch", 3, 224, 224], "normal")],
            outputs=["logits"],
            axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            extra_check=None,
        )

    return build


def build_resnet50():
    import torchvision

    return _image_model(torchvision.models.resnet50)()


def build_mobilenet_v2():
    import torchvision

    return _image_model(torchvision.models.mobilenet_v2)()


def build_efficientnet_b0():
    import torchvision

    return _image_model(torchvision.models.efficientnet_b0)()


def build_lstm():
    import torch
    from torch import nn

    class LstmClassifier(nn.Module):
        """2-layer LSTM over [batch, seq, 32], Linear head on the last time step."""

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(32, 64, num_layers=2, batch_first=True)
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1, :])

    torch.manual_seed(SEED)
    return dict(
        module=LstmClassifier().eval(),
        inputs=[("input", "float32", ["batch", "seq", 32], "normal")],
        outputs=["logits"],
        axes={"input": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
        extra_check=(3, 7),
    )


def build_bigru():
    import torch
    from torch import nn

    class BiGruTagger(nn.Module):
        """1-layer bidirectional GRU over [batch, seq, 32], per-time-step Linear head."""

        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(32, 64, num_layers=1, batch_first=True, bidirectional=True)
            self.head = nn.Linear(128, 8)

        def forward(self, x):
            out, _ = self.gru(x)
            return self.head(out)

    torch.manual_seed(SEED)
    return dict(
        module=BiGruTagger().eval(),
        inputs=[("input", "float32", ["batch", "seq", 32], "normal")],
        outputs=["logits"],
        axes={"input": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
        extra_check=(3, 7),
    )


BERT_VOCAB = 1000


def build_bert():
    import torch
    from torch import nn
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=BERT_VOCAB, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=1024, max_position_embeddings=128, attn_implementation="eager",
    )
    torch.manual_seed(SEED)
    bert = BertModel(cfg)
    assert bert.config._attn_implementation == "eager"

    class BertWrapper(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            o = self.m(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
            return o.last_hidden_state, o.pooler_output

    return dict(
        module=BertWrapper(bert).eval(),
        inputs=[("input_ids", "int64", ["batch", "seq"], ("ids", BERT_VOCAB)),
                ("attention_mask", "int64", ["batch", "seq"], "mask")],
        outputs=["last_hidden_state", "pooler_output"],
        axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
              "last_hidden_state": {0: "batch", 1: "seq"}, "pooler_output": {0: "batch"}},
        extra_check=(3, 19),
    )


DLRM_TABLES = (1000, 500, 200, 100)
DLRM_BAG = 3


def build_dlrm():
    import torch
    from torch import nn

    class Dlrm(nn.Module):
        """DLRM-style CTR model.

        dense_features [B, 13] -> bottom MLP (13-64-32).
        sparse_ids [B, 4, 3]: per table t a bag of 3 ids in [0, DLRM_TABLES[t]);
        each bag is sum-pooled (== EmbeddingBag(mode="sum") with fixed bag size, done as
        Embedding + sum, because the TorchScript exporter lowers nn.EmbeddingBag to a Loop).
        Pairwise dot products of the 5 feature vectors (bmm), strictly upper triangle
        (10 values), concat with bottom output -> top MLP (42-64-32-1) -> sigmoid.
        """

        def __init__(self):
            super().__init__()
            d = 32
            self.bottom = nn.Sequential(nn.Linear(13, 64), nn.ReLU(), nn.Linear(64, d), nn.ReLU())
            self.emb = nn.ModuleList(nn.Embedding(n, d) for n in DLRM_TABLES)
            f = len(DLRM_TABLES) + 1
            li, lj = torch.triu_indices(f, f, offset=1)
            self.register_buffer("li", li, persistent=False)
            self.register_buffer("lj", lj, persistent=False)
            self.top = nn.Sequential(nn.Linear(d + f * (f - 1) // 2, 64), nn.ReLU(),
                                     nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))

        def forward(self, dense_features, sparse_ids):
            x = self.bottom(dense_features)
            feats = [x] + [e(sparse_ids[:, t, :]).sum(dim=1) for t, e in enumerate(self.emb)]
            z = torch.stack(feats, dim=1)  # [B, F, d]
            inter = torch.bmm(z, z.transpose(1, 2))  # [B, F, F]
            flat = inter[:, self.li, self.lj]  # [B, F*(F-1)/2]
            return torch.sigmoid(self.top(torch.cat([x, flat], dim=1)))

    torch.manual_seed(SEED)
    return dict(
        module=Dlrm().eval(),
        inputs=[("dense_features", "float32", ["batch", 13], "lognormal"),
                ("sparse_ids", "int64", ["batch", len(DLRM_TABLES), DLRM_BAG], "dlrm_ids")],
        outputs=["probability"],
        axes={"dense_features": {0: "batch"}, "sparse_ids": {0: "batch"}, "probability": {0: "batch"}},
        extra_check=None,
    )


def build_keras_cnn():
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    # Keras-tutorial CNN: Conv2D(32, 3x3, valid) + ReLU, MaxPool 2, Flatten,
    # Dense 64 + ReLU, Dense 10 + softmax. NCHW input.
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(32 * 15 * 15, 64), nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=1),
    )
    return dict(
        module=model.eval(),
        inputs=[("input", "float32", ["batch", 3, 32, 32], "uniform")],
        outputs=["probabilities"],
        axes={"input": {0: "batch"}, "probabilities": {0: "batch"}},
        extra_check=None,
    )


MODELS = {
    "resnet50": build_resnet50,
    "mobilenet_v2": build_mobilenet_v2,
    "efficientnet_b0": build_efficientnet_b0,
    "lstm": build_lstm,
    "bigru": build_bigru,
    "bert": build_bert,
    "dlrm": build_dlrm,
    "keras_cnn": build_keras_cnn,
}
DEFAULT_SEQ = {"lstm": 16, "bigru": 16, "bert": 32}


# --------------------------------------------------------------------------- inputs


def make_inputs(spec, batch: int, seq: int | None, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    for name, dtype, shape, kind in spec:
        shp = tuple(batch if d == "batch" else seq if d == "seq" else d for d in shape)
        if kind == "normal":
            v = rng.standard_normal(shp)
        elif kind == "uniform":
            v = rng.random(shp)
        elif kind == "lognormal":
            v = np.log1p(rng.lognormal(0.0, 1.5, shp))  # like DLRM's log(1+x) dense preprocessing
        elif isinstance(kind, tuple) and kind[0] == "ids":
            v = rng.integers(0, kind[1], shp)
        elif kind == "mask":
            # valid prefix then zeros; row lengths vary, every row has >= 1 trailing zero
            v = np.zeros(shp)
            for b in range(shp[0]):
                v[b, : int(rng.integers(shp[1] // 2, shp[1]))] = 1
        elif kind == "dlrm_ids":
            v = np.stack([rng.integers(0, n, (shp[0], shp[2])) for n in DLRM_TABLES], axis=1)
        else:
            raise ValueError(kind)
        feeds[name] = np.ascontiguousarray(v.astype(dtype))
    return feeds


# --------------------------------------------------------------------------- export


def _dims(vi) -> list:
    return [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None)
            for d in vi.type.tensor_type.shape.dim]


def _torch_run(module, feeds: dict[str, np.ndarray], names) -> list[np.ndarray]:
    import torch

    with torch.no_grad():
        out = module(*[torch.from_numpy(feeds[n]) for n in names])
    if not isinstance(out, (tuple, list)):
        out = (out,)
    return [o.numpy() for o in out]


def export_one(name: str, out_dir: Path, opset: int) -> dict:
    import onnx
    import onnxruntime as ort
    import torch

    t0 = time.time()
    spec = MODELS[name]()
    module = spec["module"]
    in_names = [s[0] for s in spec["inputs"]]
    out_names = spec["outputs"]
    seq = DEFAULT_SEQ.get(name)

    tmp = out_dir.parent / (out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)

    example = make_inputs(spec["inputs"], 2, seq, np.random.default_rng(SEED))
    model_path = tmp / "model.onnx"
    torch.onnx.export(
        module, tuple(torch.from_numpy(example[n]) for n in in_names), str(model_path),
        dynamo=False, opset_version=opset, input_names=in_names, output_names=out_names,
        dynamic_axes=spec["axes"], do_constant_folding=True,
    )
    # torch.onnx.export restores the *wrapper's* previous training flag recursively;
    # make sure reference runs below are in eval mode.
    module.eval()

    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    g = model.graph
    assert [i.name for i in g.input] == in_names, [i.name for i in g.input]
    assert [o.name for o in g.output] == out_names, [o.name for o in g.output]

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])

    checks = []
    files = {}
    cases = [(b, seq, True) for b in BATCHES]
    if spec["extra_check"]:
        cases.append((*spec["extra_check"], False))
    for b, s, save in cases:
        feeds = make_inputs(spec["inputs"], b, s, np.random.default_rng(SEED + 1000 * b + (s or 0)))
        got = sess.run(out_names, feeds)
        ref = _torch_run(module, feeds, in_names)
        diffs = {}
        for n, x, r in zip(out_names, got, ref):
            assert x.shape == r.shape, (name, n, x.shape, r.shape)
            diffs[n] = float(np.abs(x.astype(np.float64) - r).max())
            scale = float(np.abs(r).max()) + 1e-6
            if diffs[n] > 1e-3 * max(1.0, scale):
                raise RuntimeError(f"{name}: ORT vs torch mismatch on {n} (batch {b}, seq {s}): {diffs[n]}")
        checks.append({"batch": b, "seq": s, "max_abs_diff_ort_vs_torch": diffs})
        if save:
            np.savez(tmp / f"b{b}_inputs.npz", **feeds)
            np.savez(tmp / f"b{b}_expected.npz", **dict(zip(out_names, got)))
            files[f"b{b}"] = {
                "inputs": {n: {"dtype": str(v.dtype), "shape": list(v.shape)} for n, v in feeds.items()},
                "outputs": {n: {"dtype": str(v.dtype), "shape": list(v.shape)} for n, v in zip(out_names, got)},
            }

    elem = {i.type.tensor_type.elem_type for i in list(g.input) + list(g.output)}
    dt = {e: onnx.helper.tensor_dtype_to_np_dtype(e).name for e in elem}
    meta = {
        "name": name,
        "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}",
        "exporter": "torch.onnx.export(dynamo=False)",
        "seed": SEED,
        "default_seq": seq,
        "inputs": [{"name": i.name, "dtype": dt[i.type.tensor_type.elem_type], "shape": _dims(i)} for i in g.input],
        "outputs": [{"name": o.name, "dtype": dt[o.type.tensor_type.elem_type], "shape": _dims(o)} for o in g.output],
        "data": files,
        "checks": checks,
        "n_nodes": len(g.node),
        "n_initializers": len(g.initializer),
        "n_params": int(sum(np.prod(t.dims) for t in g.initializer)),
        "op_histogram": dict(Counter(n.op_type for n in g.node).most_common()),
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
        "export_seconds": round(time.time() - t0, 1),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return meta


def main() -> int:
    ap = argparse.ArgumentParser(description="Export random-weight models to ONNX with ORT references.")
    ap.add_argument("outdir", nargs="?", default=str(DEFAULT_OUT))
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(MODELS)}")
    ap.add_argument("--force", action="store_true", help="re-export even if already present")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()

    out = Path(os.path.expanduser(args.outdir)).resolve()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        log(f"unknown model(s): {unknown}; known: {list(MODELS)}")
        return 2

    import torch

    torch.set_num_threads(2)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    metas = {}
    for n in names:
        d = out / n
        if (d / "meta.json").exists() and not args.force:
            meta = json.loads((d / "meta.json").read_text())
            if meta.get("opset") == args.opset:
                log(f"[skip] {n}: already exported ({d})")
                metas[n] = meta
                continue
        log(f"[export] {n} ...")
        metas[n] = export_one(n, d, args.opset)
        log(f"         done in {metas[n]['export_seconds']}s")

    log(f"\nmodels in {out} ({time.time() - t0:.1f}s):")
    for n, m in metas.items():
        ins = ", ".join(f"{i['name']}:{i['dtype']}{i['shape']}" for i in m["inputs"])
        outs = ", ".join(f"{o['name']}:{o['dtype']}{o['shape']}" for o in m["outputs"])
        worst = max(v for c in m["checks"] for v in c["max_abs_diff_ort_vs_torch"].values())
        log(f"  {n}: opset {m['opset']}, {m['n_nodes']} nodes, {m['n_params']} params, "
            f"ort-vs-torch max|d|={worst:.2e}\n    in:  {ins}\n    out: {outs}\n    ops: {m['op_histogram']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
