#!/usr/bin/env python3
"""Correctness sweep over many public architectures (random weights), beyond the eight benchmark models.

Each model is built in PyTorch (torchvision, transformers, torch.nn), exported to ONNX, run by ONNX Runtime and by
`zenrt run --assert-outputs`, and PyTorch's own output is kept as a second reference:

    python3 scripts/zoo_check.py                      # every model, both exporters where listed (~15 min)
    python3 scripts/zoo_check.py --ci                 # the small subset scripts/test.sh runs (~1 min)
    python3 scripts/zoo_check.py --only gpt2,swin_t --out /tmp/zoo.md

A case passes when zenrt's outputs match ORT's within rtol 1e-3 / atol 1e-4 (`zenrt run --assert-outputs`), or,
where they do not, when zenrt is as close to PyTorch as ORT is (max abs difference to PyTorch at most twice ORT's,
plus 1e-5): the detection models resample masks and heatmaps with bilinear arithmetic in which the two engines'
float32 rounding orders differ, and neither engine is the ground truth there. The table says which rule passed.

Exporters: `ts` is torch.onnx.export's TorchScript exporter (dynamo=False) with a dynamic batch axis (the model is
exported at batch 1 and run at batch 2, so shape arithmetic must follow the symbolic dimension); `dynamo` is the
torch.export-based exporter (needs onnxscript). The exit status is the number of failed cases (an exporter that
cannot export a model is reported, not counted: it is PyTorch's limit, not ours).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent


def _seed():
    import torch

    torch.manual_seed(1234)
    # nn.MultiheadAttention's inference fast path exports as an op no ONNX exporter knows; users turn it off.
    torch.backends.mha.set_fastpath_enabled(False)
    return torch


def _calibrate(m, *args):
    """BatchNorm running statistics from one training-mode pass on random data (else BN is near identity)."""
    torch = _seed()
    if any(isinstance(x, torch.nn.modules.batchnorm._BatchNorm) for x in m.modules()):
        m.train()
        with torch.no_grad():
            m(*args)
    m.eval()
    return m


def tv(name, shape=(3, 224, 224), **kw):
    def build(batch):
        torch = _seed()
        import torchvision.models as tvm

        m = getattr(tvm, name)(weights=None, **kw)
        return _calibrate(m, torch.randn(2, *shape)), (torch.randn(batch, *shape),)

    return build


def seg(name, **kw):
    def build(batch):
        torch = _seed()
        import torchvision.models.segmentation as S

        class Out(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = getattr(S, name)(weights=None, weights_backbone=None, **kw)

            def forward(self, x):
                return self.m(x)["out"]

        return _calibrate(Out(), torch.randn(2, 3, 224, 224)), (torch.randn(batch, 3, 224, 224),)

    return build


def video(batch):
    torch = _seed()
    import torchvision.models.video as V

    return _calibrate(V.r3d_18(weights=None), torch.randn(2, 3, 8, 112, 112)), (torch.randn(batch, 3, 8, 112, 112),)


def det(name, size=320):
    def build(batch):
        torch = _seed()
        import torchvision.models.detection as D

        m = getattr(D, name)(weights=None, weights_backbone=None).eval()
        return m, ([torch.rand(3, size, size)],)

    return build


def raft(batch):
    torch = _seed()
    import torchvision.models.optical_flow as O

    class Flow(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = O.raft_small(weights=None)

        def forward(self, a, b):
            return self.m(a, b, num_flow_updates=3)[-1]

    return Flow().eval(), (torch.rand(batch, 3, 128, 128), torch.rand(batch, 3, 128, 128))


def encoder(batch):
    """nn.TransformerEncoder (pre-norm) with a key padding mask, embedding in front, linear head behind."""
    torch = _seed()

    class Enc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, norm_first=True)
            self.emb = torch.nn.Embedding(100, 64)
            self.enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = torch.nn.Linear(64, 10)

        def forward(self, ids, pad):
            return self.head(self.enc(self.emb(ids), src_key_padding_mask=pad))

    pad = torch.zeros(batch, 12, dtype=torch.bool)
    pad[-1, 8:] = True
    return Enc().eval(), (torch.randint(0, 100, (batch, 12)), pad)


def causal_lm(batch):
    """A small GPT-style decoder: causal mask from triu, tanh-GELU MLP, softmax over the vocabulary."""
    torch = _seed()

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = torch.nn.LayerNorm(64), torch.nn.LayerNorm(64)
            self.att = torch.nn.MultiheadAttention(64, 4, batch_first=True)
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(64, 256), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(256, 64)
            )

        def forward(self, x):
            n = x.shape[1]
            mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
            h = self.ln1(x)
            x = x + self.att(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = torch.nn.Embedding(200, 64), torch.nn.Embedding(64, 64)
            self.blocks = torch.nn.ModuleList([Block(), Block()])
            self.lm = torch.nn.Linear(64, 200, bias=False)

        def forward(self, ids):
            x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]).unsqueeze(0))
            for b in self.blocks:
                x = b(x)
            return torch.softmax(self.lm(x), -1)

    return LM().eval(), (torch.randint(0, 200, (batch, 10)),)


def sdpa(batch):
    """F.scaled_dot_product_attention with is_causal, heads split by reshape/permute."""
    torch = _seed()

    class Att(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(32, 96)

        def forward(self, x):
            b, n, _ = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, 4, 8).permute(2, 0, 3, 1, 4)
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return y.transpose(1, 2).reshape(b, n, 32)

    return Att().eval(), (torch.randn(batch, 7, 32),)


def conv_rnn(batch):
    """Conv1d -> 2-layer bidirectional GRU -> LSTM -> linear on the last step."""
    torch = _seed()

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(8, 16, 3, padding=1)
            self.gru = torch.nn.GRU(16, 24, 2, batch_first=True, bidirectional=True)
            self.lstm = torch.nn.LSTM(48, 16, batch_first=True)
            self.out = torch.nn.Linear(16, 3)

        def forward(self, x):
            h = torch.relu(self.conv(x)).transpose(1, 2)
            h, _ = self.gru(h)
            h, _ = self.lstm(h)
            return self.out(h[:, -1])

    return M().eval(), (torch.randn(batch, 8, 20),)


def hf(kind):
    """A small randomly initialised Hugging Face transformers model (config only, nothing downloaded)."""

    def build(batch):
        torch = _seed()
        import transformers as T

        if kind == "gpt2":
            cfg = T.GPT2Config(n_layer=2, n_head=4, n_embd=64, vocab_size=500, n_positions=64, bos_token_id=0,
                               eos_token_id=0)
            m = T.GPT2LMHeadModel(cfg)
        elif kind == "distilbert":
            m = T.DistilBertModel(T.DistilBertConfig(n_layers=2, n_heads=4, dim=64, hidden_dim=128, vocab_size=500))
        elif kind == "t5_encoder":
            m = T.T5EncoderModel(T.T5Config(num_layers=2, num_heads=4, d_model=64, d_kv=16, d_ff=128, vocab_size=500))
        elif kind == "vit":
            cfg = T.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                              image_size=64, patch_size=8)
            m = T.ViTModel(cfg, add_pooling_layer=False)
            return _Out(m).eval(), (torch.randn(batch, 3, 64, 64),)
        else:
            raise ValueError(kind)
        m.config.use_cache = False
        ids = torch.randint(0, 500, (batch, 16))
        mask = torch.ones(batch, 16, dtype=torch.int64)
        mask[-1, 11:] = 0
        return _Out(m).eval(), (ids, mask)

    return build


def _Out(m):
    torch = _seed()

    class First(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, x, mask=None):
            if mask is None:
                return self.m(x, return_dict=False)[0]
            return self.m(input_ids=x, attention_mask=mask, return_dict=False)[0]

    return First()


# name -> (builder, exporters, takes a batch axis, in --ci)
MODELS = {
    "encoder": (encoder, ("ts", "dynamo"), True, True),
    "causal_lm": (causal_lm, ("ts", "dynamo"), True, True),
    "sdpa": (sdpa, ("ts", "dynamo"), True, True),
    "conv_rnn": (conv_rnn, ("ts", "dynamo"), True, True),
    "gpt2": (hf("gpt2"), ("ts",), True, True),
    "distilbert": (hf("distilbert"), ("ts",), True, False),
    "t5_encoder": (hf("t5_encoder"), ("ts",), True, False),
    "hf_vit": (hf("vit"), ("ts",), True, True),
    "alexnet": (tv("alexnet"), ("ts",), True, False),
    "vgg11_bn": (tv("vgg11_bn"), ("ts",), True, False),
    "googlenet": (tv("googlenet", aux_logits=False, init_weights=True), ("ts",), True, False),
    "inception_v3": (tv("inception_v3", (3, 299, 299), aux_logits=False, init_weights=True), ("ts",), True, False),
    "densenet121": (tv("densenet121"), ("ts",), True, False),
    "squeezenet1_0": (tv("squeezenet1_0"), ("ts",), True, True),
    "shufflenet_v2_x1_0": (tv("shufflenet_v2_x1_0"), ("ts",), True, False),
    "mnasnet0_5": (tv("mnasnet0_5"), ("ts",), True, False),
    "mobilenet_v3_small": (tv("mobilenet_v3_small"), ("ts", "dynamo"), True, True),
    "mobilenet_v3_large": (tv("mobilenet_v3_large"), ("ts",), True, False),
    "regnet_y_400mf": (tv("regnet_y_400mf"), ("ts",), True, False),
    "resnext50_32x4d": (tv("resnext50_32x4d"), ("ts",), True, False),
    "convnext_tiny": (tv("convnext_tiny"), ("ts", "dynamo"), True, False),
    "efficientnet_v2_s": (tv("efficientnet_v2_s"), ("ts",), True, False),
    "vit_b_16": (tv("vit_b_16"), ("ts", "dynamo"), True, False),
    "swin_t": (tv("swin_t"), ("ts",), True, False),
    "maxvit_t": (tv("maxvit_t"), ("ts",), True, False),
    "fcn_resnet50": (seg("fcn_resnet50", aux_loss=False), ("ts",), True, False),
    "deeplabv3_mobilenet_v3_large": (seg("deeplabv3_mobilenet_v3_large", aux_loss=False), ("ts",), True, False),
    "lraspp_mobilenet_v3_large": (seg("lraspp_mobilenet_v3_large"), ("ts",), True, False),
    "r3d_18": (video, ("ts",), True, False),
    "raft_small": (raft, ("ts",), True, False),
    "ssdlite": (det("ssdlite320_mobilenet_v3_large"), ("ts",), False, False),
    "fasterrcnn_mobilenet": (det("fasterrcnn_mobilenet_v3_large_320_fpn"), ("ts",), False, False),
    "retinanet": (det("retinanet_resnet50_fpn", 256), ("ts",), False, False),
    "fcos": (det("fcos_resnet50_fpn", 256), ("ts",), False, False),
    "maskrcnn": (det("maskrcnn_resnet50_fpn", 256), ("ts",), False, False),
    "keypointrcnn": (det("keypointrcnn_resnet50_fpn", 256), ("ts",), False, False),
}


def flat(args):
    return [t for a in args for t in (a if isinstance(a, list) else [a])]


def torch_outputs(m, args):
    import torch

    with torch.no_grad():
        out = m(*args)
    res = []

    def walk(o):
        if isinstance(o, torch.Tensor):
            res.append(o.numpy())
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)

    walk(out)
    return res


def export(name, how, d, opset):
    import torch

    build, _, batched, _ = MODELS[name]
    m, args = build(1)
    names = [f"in{i}" for i in range(len(flat(args)))]
    path = d / "model.onnx"
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        if how == "dynamo":
            torch.onnx.export(m, args, str(path), input_names=names, opset_version=opset, dynamo=True,
                              external_data=False)
        else:
            axes = {n: {0: "batch"} for n in names} if batched else None
            torch.onnx.export(m, args, str(path), input_names=names, opset_version=opset, dynamo=False,
                              dynamic_axes=axes)
    # Run at batch 2 where the batch axis is dynamic (dynamo exports are static: same batch).
    m, args = build(2 if (batched and how == "ts") else 1)
    return m, args, names, path


def check(name, how, work, zenrt, opset):
    import onnxruntime as ort

    d = work / f"{name}_{how}"
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    try:
        m, args, names, path = export(name, how, d, opset)
    except Exception as e:  # the exporter's limit, reported and not counted
        first = (str(e).strip().splitlines() or [""])[0][:160]
        return {"status": "export failed", "detail": f"{type(e).__name__}: {first}"}
    t_export = time.time() - t0
    feeds = {n: a.numpy() for n, a in zip(names, flat(args))}
    np.savez(d / "in.npz", **feeds)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    outs = sess.run(None, feeds)
    out_names = [o.name for o in sess.get_outputs()]
    np.savez(d / "ort.npz", **dict(zip(out_names, outs)))
    ref = torch_outputs(m, args)
    t0 = time.time()
    r = subprocess.run(
        [str(zenrt), "run", str(path), "--inputs", str(d / "in.npz"), "--assert-outputs", str(d / "ort.npz"),
         "--rtol", "1e-3", "--atol", "1e-4", "--output", str(d / "zenrt.npz"), "--threads", "2"],
        capture_output=True, text=True, timeout=900)
    t_run = time.time() - t0
    lines = (r.stdout + r.stderr).strip().splitlines()
    detail = " ".join(l.strip() for l in lines if "differ" in l or "error" in l)[:300]
    res = {"export_s": t_export, "run_s": t_run, "ops": op_count(path)}
    if r.returncode == 0:
        return {**res, "status": "pass", "detail": "matches ORT"}
    if not (d / "zenrt.npz").exists() or len(ref) != len(outs):
        return {**res, "status": "FAIL", "detail": detail or " ".join(lines[-2:])}
    z = np.load(d / "zenrt.npz")
    worst = []
    for n, o, t in zip(out_names, outs, ref):
        if n not in z or z[n].shape != o.shape or o.shape != t.shape:
            return {**res, "status": "FAIL", "detail": f"output {n}: shape or presence differs; {detail}"}
        if o.dtype.kind == "f":
            dz = float(np.abs(z[n].astype(np.float64) - t).max(initial=0))
            do = float(np.abs(o.astype(np.float64) - t).max(initial=0))
            worst.append((dz - 2 * do, n, dz, do))
        elif not np.array_equal(z[n], o):
            return {**res, "status": "FAIL", "detail": f"output {n}: non-float values differ from ORT"}
    _, n, dz, do = max(worst)
    if dz <= 2 * do + 1e-5:
        return {**res, "status": "pass", "detail": f"as close to PyTorch as ORT ({n}: zenrt {dz:.2e}, ORT {do:.2e})"}
    return {**res, "status": "FAIL", "detail": f"{n}: zenrt {dz:.2e} from PyTorch, ORT {do:.2e}; {detail}"}


def op_count(path):
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    return len(g.node)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--ci", action="store_true", help="the small subset scripts/test.sh runs")
    ap.add_argument("--exporters", default="ts,dynamo")
    ap.add_argument("--opset", type=int, default=17, help="TorchScript exporter opset (dynamo uses max(18, this))")
    ap.add_argument("--zenrt", default=str(ROOT / "target/release/zenrt"))
    ap.add_argument("--work", help="keep models and outputs here (default: a temporary directory)")
    ap.add_argument("--out", help="also write the markdown table to this file")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else [n for n, v in MODELS.items() if v[3] or not a.ci]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(MODELS)}")
    exporters = a.exporters.split(",")
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        if "dynamo" in exporters:
            print("onnxscript is not installed: skipping the dynamo exporter", flush=True)
            exporters = [e for e in exporters if e != "dynamo"]
    tmp = None if a.work else tempfile.TemporaryDirectory()
    work = Path(a.work or tmp.name)
    rows, failed = [], 0
    for name in names:
        for how in MODELS[name][1]:
            if how not in exporters:
                continue
            opset = a.opset if how == "ts" else max(18, a.opset)
            r = check(name, how, work, a.zenrt, opset)
            failed += r["status"] == "FAIL"
            row = (f"| {name} | {how} {opset} | {r.get('ops', '')} | {r['status']} | "
                   f"{r.get('export_s', 0):.1f} | {r.get('run_s', 0):.1f} | {r['detail']} |")
            print(row, flush=True)
            rows.append(row)
    head = ["| model | exporter, opset | nodes | result | export s | zenrt run s | detail |",
            "|---|---|---|---|---|---|---|"]
    table = "\n".join(head + rows)
    if a.out:
        Path(a.out).write_text(table + "\n")
    print(f"zoo: {len(rows) - failed} of {len(rows)} cases pass", flush=True)
    sys.exit(min(failed, 100))


if __name__ == "__main__":
    main()
