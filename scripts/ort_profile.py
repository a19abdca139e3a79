#!/usr/bin/env python3
"""ONNX Runtime's per-node times for one model, to set beside `zenrt profile` (CPU provider, ORT_ENABLE_ALL,
`enable_profiling`, sequential). Runs the model ITERS times after 5 warm-up runs and prints each node's median
`dur` (µs), sorted by time. With OUT.json it also writes {median_ms, nodes: {name: [op, min_ms]}} (the minimum
per node) for scripts/layers_vs_ort.py.

    python3 scripts/ort_profile.py MODEL.onnx INPUTS.npz THREADS [ITERS [OUT.json]]
"""
import collections
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

model, npz, threads = sys.argv[1:4]
iters = int(sys.argv[4]) if len(sys.argv) > 4 else 50
out = sys.argv[5] if len(sys.argv) > 5 else None
so = ort.SessionOptions()
so.intra_op_num_threads = int(threads)
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.enable_profiling = True
so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
feeds = dict(np.load(npz))
for _ in range(5):
    sess.run(None, feeds)
wall = []
for _ in range(iters):
    t = time.perf_counter()
    sess.run(None, feeds)
    wall.append(time.perf_counter() - t)
trace_file = sess.end_profiling()
trace = json.load(open(trace_file))
os.remove(trace_file)
runs = collections.defaultdict(list)
ops = {}
for ev in trace:
    if ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
        name = ev["name"][: -len("_kernel_time")]
        runs[name].append(ev["dur"])
        ops[name] = ev.get("args", {}).get("op_name", "?")
# The first 5 runs are warm-up: keep the last `iters` samples of each node.
rows = sorted(((statistics.median(v[-iters:]), n) for n, v in runs.items()), reverse=True)
total = sum(r[0] for r in rows)
print(f"ORT {threads}T: median run {1000 * statistics.median(wall):.3f} ms, sum of node medians {total / 1000:.3f} ms")
for us, n in rows:
    print(f"{us:9.1f} us  {100 * us / total:5.1f}%  {ops[n]:22s} {n}")
if out:
    nodes = {n: (ops[n], float(np.min(v[-iters:])) / 1000) for n, v in runs.items()}
    json.dump({"median_ms": 1000 * statistics.median(wall), "nodes": nodes}, open(out, "w"), indent=0)
