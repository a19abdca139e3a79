#!/usr/bin/env python3
"""ONNX Runtime's per-node times for one model, to set beside `zenrt profile`: runs the model ITERS times
with `enable_profiling`, and prints each node's median `dur` (µs) from the JSON trace, sorted by time.

    python3 scripts/ort_profile.py MODEL.onnx INPUTS.npz THREADS [ITERS]
"""
import collections
import json
import os
import statistics
import sys
import tempfile

import numpy as np
import onnxruntime as ort

model, npz, threads = sys.argv[1:4]
iters = int(sys.argv[4]) if len(sys.argv) > 4 else 50
so = ort.SessionOptions()
so.intra_op_num_threads = int(threads)
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.enable_profiling = True
so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
feeds = dict(np.load(npz))
for _ in range(5):
    sess.run(None, feeds)
runs = collections.defaultdict(list)
for _ in range(iters):
    sess.run(None, feeds)
trace = json.load(open(sess.end_profiling()))
ops = {}
for ev in trace:
    if ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
        name = ev["name"][: -len("_kernel_time")]
        runs[name].append(ev["dur"])
        ops[name] = ev.get("args", {}).get("op_name", "?")
# The first 5 runs are warm-up: keep the last `iters` samples of each node.
rows = sorted(((statistics.median(v[-iters:]), n) for n, v in runs.items()), reverse=True)
total = sum(r[0] for r in rows)
print(f"ORT {threads}T: sum of node medians {total / 1000:.3f} ms")
for us, n in rows:
    print(f"{us:9.1f} us  {100 * us / total:5.1f}%  {ops[n]:22s} {n}")
