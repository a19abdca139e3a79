#!/usr/bin/env python3
"""Runs a command and prints its resident memory (VmRSS) over time, every change of 8 MiB or more, then the maximum:
shows *when* the peak happens (import, planning, runs).

    python3 scripts/rss_trace.py target/release/zenrt bench MODEL.onnx --inputs IN.npz --iters 2 --threads 1
"""
import subprocess
import sys
import time

p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t0, samples = time.time(), []
while p.poll() is None:
    try:
        for line in open(f"/proc/{p.pid}/status"):
            if line.startswith("VmRSS"):
                samples.append((time.time() - t0, int(line.split()[1]) // 1024))
    except OSError:
        pass
    time.sleep(0.01)
prev = None
for t, r in samples:
    if prev is None or abs(r - prev) >= 8:
        print(f"{t * 1000:7.0f} ms {r:5d} MiB")
        prev = r
print("max", max((r for _, r in samples), default=0), "MiB")
