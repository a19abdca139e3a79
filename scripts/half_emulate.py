#!/usr/bin/env python3
"""Where does a half-precision run lose accuracy? Emulates zenrt's fp16/bf16 storage on the CPU.

ONNX Runtime runs the model in fp32 with chosen values rounded to fp16/bf16 (Cast pairs inserted
after their producers; initializers rounded in numpy), so each source of rounding can be switched
on alone. Reports max |emulated - fp32| / max |fp32| of every output, the metric of tests/cuda.rs.

    python3 scripts/half_emulate.py resnet50 [--batch 4] [--dtype fp16|bf16]

Rounding points (zenrt, `--precision fp16`): graph inputs, every float initializer (after the
exporter's Conv+BN folding), and every value a kernel writes to memory: a Conv whose only reader is
Relu/Clip/Add is fused with it (one rounding after the epilogue), everything else is stored.
"""
import argparse
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

FUSED_READERS = {"Relu", "Clip", "Add"}


def round_np(a, dtype):
    if dtype == "fp16":
        return a.astype(np.float16).astype(np.float32)
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def stored_values(model):
    """Float node outputs that zenrt's fused plan writes to memory, with the producing op."""
    inferred = onnx.shape_inference.infer_shapes(model).graph
    floats = {v.name for v in list(inferred.value_info) + list(inferred.output)
              if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    g = model.graph
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n.op_type)
    out = {}
    for n in g.node:
        if n.op_type in ("Constant", "Shape", "Flatten", "Reshape", "Identity", "Gather", "Unsqueeze",
                         "Concat", "Squeeze", "Cast", "Range", "Equal", "ConstantOfShape", "Expand",
                         "Where", "And", "GreaterOrEqual", "Slice", "GatherElements"):
            continue
        for o in n.output:
            if o not in floats:
                continue
            r = readers.get(o, [])
            if n.op_type in ("Conv", "Gemm", "MatMul") and len(r) == 1 and r[0] in FUSED_READERS:
                continue
            out[o] = n.op_type
    return out


def build(model, dtype, round_inputs, round_weights, round_values):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    if round_weights:
        for i, t in enumerate(g.initializer):
            if t.data_type == TensorProto.FLOAT:
                g.initializer[i].CopyFrom(numpy_helper.from_array(round_np(numpy_helper.to_array(t), dtype), t.name))
        for n in g.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                        a.t.CopyFrom(numpy_helper.from_array(round_np(numpy_helper.to_array(a.t), dtype), a.t.name))
    to = TensorProto.FLOAT16 if dtype == "fp16" else TensorProto.BFLOAT16
    names = list(round_values)
    if round_inputs:
        names += [i.name for i in g.input if i.type.tensor_type.elem_type == TensorProto.FLOAT]
    new_nodes = []
    rename = {v: v + "__r" for v in names}
    for v in names:
        new_nodes.append(helper.make_node("Cast", [v], [v + "__h"], to=to))
        new_nodes.append(helper.make_node("Cast", [v + "__h"], [v + "__r"], to=TensorProto.FLOAT))
    for n in g.node:
        for k, i in enumerate(n.input):
            if i in rename:
                n.input[k] = rename[i]
    outs = {o.name for o in g.output}
    # graph outputs are rounded too (zenrt stores them in half, then converts)
    for o in g.output:
        if o.name in rename:
            new_nodes.append(helper.make_node("Identity", [rename[o.name]], [o.name + "__out"]))
    g.node.extend(new_nodes)
    for o in g.output:
        if o.name in rename:
            o.name = o.name + "__out"
    _ = outs
    return m


def run(m, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 2
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def rel(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b)) / np.max(np.abs(b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("--dir", default=os.path.expanduser("~/.cache/zenrt/models"))
    ap.add_argument("--groups", action="store_true", help="also round one op type / depth range at a time")
    a = ap.parse_args()
    model = onnx.load(os.path.join(a.dir, a.model, "model.onnx"))
    feeds = dict(np.load(os.path.join(a.dir, a.model, f"b{a.batch}_inputs.npz")))
    ref = [x.astype(np.float64) for x in run(model, feeds)]
    vals = stored_values(model)
    order = list(vals)

    def report(label, **kw):
        got = run(build(model, a.dtype, **kw), feeds)
        e = max(rel(x, r) for x, r in zip(got, ref))
        print(f"{a.model} b{a.batch} {a.dtype} {label:<40} {e:.2e}", flush=True)
        return e

    report("all (zenrt storage)", round_inputs=True, round_weights=True, round_values=order)
    report("inputs only", round_inputs=True, round_weights=False, round_values=[])
    report("weights only", round_inputs=False, round_weights=True, round_values=[])
    report("stored activations only", round_inputs=False, round_weights=False, round_values=order)
    if not a.groups:
        return
    for op in sorted(set(vals.values())):
        sel = [v for v in order if vals[v] == op]
        report(f"activations of {op} ({len(sel)})", round_inputs=False, round_weights=False, round_values=sel)
        rest = [v for v in order if vals[v] != op]
        report(f"all but {op} activations", round_inputs=True, round_weights=True, round_values=rest)
    q = len(order) // 4
    for k in range(4):
        sel = order[k * q:(k + 1) * q] if k < 3 else order[3 * q:]
        report(f"activations quarter {k + 1} ({len(sel)})", round_inputs=False, round_weights=False, round_values=sel)
    report("all but last 3 values", round_inputs=True, round_weights=True, round_values=order[:-3])
    report("all but first value", round_inputs=True, round_weights=True, round_values=order[1:])


if __name__ == "__main__":
    sys.exit(main())
