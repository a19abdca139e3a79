#!/usr/bin/env python3
"""ONNX Runtime per-node times (CPU provider, ORT_ENABLE_ALL, `enable_profiling`): minimum over ITERS runs of each
node's `dur`, written as JSON {median_ms, nodes: {name: [op, ms]}} for scripts/layers_vs_ort.py.

    python3 scripts/ort_profile.py MODEL.onnx INPUTS.npz THREADS ITERS OUT.json
"""
import sys, json, glob, os, collections, numpy as np, onnxruntime as ort
model, npz, threads, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = sys.argv[5]
so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
so.enable_profiling = True; so.profile_file_prefix = "/tmp/ortprof"
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
feed = dict(np.load(npz))
for _ in range(2): s.run(None, feed)
import time
ts=[]
for _ in range(iters):
    t=time.perf_counter(); s.run(None, feed); ts.append(time.perf_counter()-t)
f = s.end_profiling()
ev = json.load(open(f)); os.remove(f)
per = collections.defaultdict(list); ops = {}
for e in ev:
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
        n = e["name"][:-len("_kernel_time")]
        per[n].append(e["dur"]); ops[n] = e["args"].get("op_name", "")
# first 2 runs are warmup: take median per node over all runs
res = {n: (ops[n], float(np.min(v))/1000) for n, v in per.items()}
json.dump({"median_ms": float(np.median(ts))*1000, "nodes": res}, open(out, "w"), indent=0)
print("median", np.median(ts)*1000, "sum nodes", sum(v[1] for v in res.values()))
