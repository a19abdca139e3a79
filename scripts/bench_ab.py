#!/usr/bin/env python3
"""Two zenrt binaries and ONNX Runtime side by side on one model: alternating rounds (A, B, ORT, then reversed),
each run in its own subprocess; prints the median latency, peak RSS (VmHWM) and load time of each.

    python3 scripts/bench_ab.py MODEL.onnx INPUTS.npz THREADS ROUNDS ITERS BASE_BIN NEW_BIN
    e.g. cp target/release/zenrt /tmp/zenrt_base   # before the change
         python3 scripts/bench_ab.py ~/.cache/zenrt/models/resnet50/model.onnx \\
             ~/.cache/zenrt/models/resnet50/b1_inputs.npz 1 2 5 /tmp/zenrt_base target/release/zenrt
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

model, npz, threads, rounds, iters, base, new = sys.argv[1:8]
bins = {"base": base, "new": new}
ort_worker = [sys.executable, str(Path(__file__).resolve().parent / "bench_vs_ort.py"), "--_ort-worker"]
res = {k: [] for k in ["base", "new", "ort"]}


def last_json(out):
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"no JSON result in:\n{out}")


for r in range(int(rounds)):
    for eng in ["base", "new", "ort"] if r % 2 == 0 else ["ort", "new", "base"]:
        if eng == "ort":
            cmd = ort_worker + [model, npz, threads, "1", iters]
        else:
            cmd = [bins[eng], "bench", model, "--inputs", npz, "--threads", threads, "--warmup", "1", "--iters",
                   iters, "--json"]
        d = last_json(subprocess.run(cmd, capture_output=True, text=True).stdout)
        res[eng].append((d["median_ms"], d["peak_rss_bytes"] / 2**20, d["load_ms"]))
for eng, v in res.items():
    def med(i):
        return statistics.median(x[i] for x in v)
    print(f"{eng:5s} median {med(0):8.2f} ms  rss {med(1):6.1f} MiB  load {med(2):7.1f} ms   runs: "
          + " ".join(f"{x[0]:.1f}" for x in v))
