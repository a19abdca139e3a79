#!/usr/bin/env python3
"""Passes on vs off, side by side: alternates `zenrt bench` runs with and without --no-opt and
reports median-of-medians latency and the on/off ratio per model."""
import json, os, statistics, subprocess, sys

zenrt = sys.argv[1] if len(sys.argv) > 1 else "target/release/zenrt"
models = sys.argv[2].split(",") if len(sys.argv) > 2 else ["bert", "resnet50", "efficientnet_b0"]
rounds = int(os.environ.get("ROUNDS", "3"))
iters = os.environ.get("ITERS", "10")
root = os.path.expanduser("~/.cache/zenrt/models")
for m in models:
    d = os.path.join(root, m)
    res = {"on": [], "off": []}
    for r in range(rounds):
        for mode in ("on", "off"):
            cmd = [zenrt, "bench", f"{d}/model.onnx", "--inputs", f"{d}/b1_inputs.npz", "--iters", iters, "--warmup", "2", "--json"]
            if mode == "off":
                cmd.append("--no-opt")
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            j = json.loads(out)
            res[mode].append((j["median_ms"], j["peak_rss_bytes"]))
    on = statistics.median(x[0] for x in res["on"])
    off = statistics.median(x[0] for x in res["off"])
    print(f"{m:16s} passes on {on:9.3f} ms   off {off:9.3f} ms   on/off {on/off:.3f}   "
          f"(medians of {rounds}x{iters} runs each, alternating)", flush=True)
