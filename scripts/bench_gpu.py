#!/usr/bin/env python3
"""GPU benchmark: zenrt's CUDA backend (fp32, TF32, fp16, bf16) vs PyTorch (eager fp32, eager fp16
autocast, torch.compile fp32 and under fp16 autocast) on the real models, same architectures and
weights, batch 1 and 32.

Usage (on a machine with a GPU, PyTorch and the zenrt binary):
    python3 scripts/bench_gpu.py --zenrt target/release/zenrt --models /tmp/models --out results.json
        [--only resnet50,bert] [--batches 1,32] [--iters 50] [--modes zenrt_fp32,torch_dev,...]
        [--pipeline N]   (zenrt modes: N requests one `run` at a time vs one pipelined `run_many`)

Models are exported first with scripts/export_models.py (seeded: the ONNX file and the PyTorch
module built here have the same weights). Inputs come from export_models.make_inputs (valid token
ids, masks), written to .npz for zenrt.

What is timed (medians over --iters after --warmup runs):
  zenrt        `zenrt bench --device cuda:0 [--tf32 | --precision fp16|bf16]`: host f32 tensors in,
               host f32 tensors out (upload + on-device conversion + run + download, pageable
               memory), wall clock per run after `--warmup` runs. Also recorded per cell (session 8):
               `split_ms`, medians of the run's parts (host staging into pinned memory, upload,
               graph replay, download, whole run) and `resident_ms`, the graph replayed on inputs
               and outputs left on the device (CUDA events): what compares with "torch dev".
  torch e2e    the same end to end: host -> .cuda() -> model -> .cpu().
  torch dev    inputs already on the GPU, output left there; CUDA events around the forward.
               PyTorch's default: convolutions in TF32 (cudnn.allow_tf32=True).
  torch strict as "torch dev" with cudnn.allow_tf32=False: strict fp32 convolutions, the same
               math as zenrt fp32 (zenrt --tf32 compares with "torch dev").
  fp16         torch.autocast(float16), device-resident like "torch dev".
  compile      torch.compile(model) (default mode), device-resident, after compile warm-up.
  compile_fp16 torch.compile(model) called under torch.autocast(float16).
torch modes use CUDA events around the forward (e2e: wall clock).
Peak memory: torch.cuda.max_memory_allocated per configuration; zenrt's peak bytes in use in
its caching allocator (weights included) over the whole run (load, warm-up incl. cuDNN Find and
graph capture, timed runs); cuDNN Find's scratch buffer comes from the driver outside the
allocator and is given back after Find (reported apart: find_scratch_mib); steady_peak_mib is
the timed runs' peak alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(Path.cwd() / "scripts"))

SEQ = {"lstm": 16, "bigru": 16, "bert": 32}


def log(*a):
    print(*a, flush=True)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


ZENRT_FLAGS = {"zenrt_fp32": [], "zenrt_tf32": ["--tf32"], "zenrt_fp16": ["--precision", "fp16"],
               "zenrt_bf16": ["--precision", "bf16"]}


def bench_zenrt(zenrt, model_path, npz, iters, warmup, flags, pipeline=0):
    cmd = [zenrt, "bench", str(model_path), "--device", "cuda:0", "--inputs", str(npz),
           "--iters", str(iters), "--warmup", str(warmup), "--json"] + flags
    if pipeline:
        cmd += ["--pipeline", str(pipeline)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        return {"error": (p.stderr or p.stdout).strip()[-400:]}
    j = json.loads(p.stdout.strip().splitlines()[-1])
    return {"median_ms": j["median_ms"], "peak_mib": (j.get("gpu_peak_bytes") or 0) / 2**20, "load_ms": j["load_ms"],
            "steady_peak_mib": (j.get("gpu_steady_peak_bytes") or 0) / 2**20,
            "find_scratch_mib": (j.get("gpu_find_scratch_bytes") or 0) / 2**20, "graph": j.get("gpu_graph"),
            "split_ms": j.get("gpu_split_ms"), "resident_ms": j.get("gpu_resident_median_ms"),
            **({"pipeline_n": j["pipeline_n"], "one_by_one_ms": j["pipeline_sequential_ms"],
                "run_many_ms": j["pipeline_run_many_ms"]} if pipeline else {})}


def bench_torch(module, feeds, names, iters, warmup, mode):
    import torch

    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = tf32 and mode != "strict"
    try:
        return bench_torch_inner(module, feeds, names, iters, warmup, mode)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32


def bench_torch_inner(module, feeds, names, iters, warmup, mode):
    import torch

    dev = torch.device("cuda")
    host = [torch.from_numpy(feeds[n]) for n in names]
    xs = [t.to(dev) for t in host]
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    half = mode.endswith("fp16")
    ctx = torch.autocast("cuda", dtype=torch.float16) if half else torch.autocast("cuda", enabled=False)
    fn = module
    t_compile = None
    if mode.startswith("compile"):
        torch._dynamo.reset()  # a fresh compile per cell (no recompile limit across cells)
        t0 = time.time()
        fn = torch.compile(module)
        with torch.no_grad(), ctx:
            fn(*xs)
        torch.cuda.synchronize()
        t_compile = time.time() - t0
    times = []
    with torch.no_grad(), ctx:
        for i in range(warmup + iters):
            if mode == "e2e":
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                out = fn(*[t.to(dev) for t in host])
                out = out if isinstance(out, (tuple, list)) else (out,)
                _ = [o.cpu() for o in out]
                dt = (time.perf_counter() - t0) * 1e3
            else:
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                fn(*xs)
                e.record()
                e.synchronize()
                dt = s.elapsed_time(e)
            if i >= warmup:
                times.append(dt)
    r = {"median_ms": median(times), "peak_mib": torch.cuda.max_memory_allocated() / 2**20}
    if t_compile is not None:
        r["compile_s"] = round(t_compile, 1)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zenrt", required=True)
    ap.add_argument("--models", default="/tmp/models")
    ap.add_argument("--only", default="")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--modes", default="zenrt_fp32,zenrt_tf32,zenrt_fp16,zenrt_bf16,torch_e2e,torch_dev,torch_strict,torch_fp16,"
                    "torch_compile,torch_compile_fp16", help="comma-separated subset of the default")
    ap.add_argument("--out", default="bench_gpu.json")
    ap.add_argument("--pipeline", type=int, default=0,
                    help="also time N requests one by one vs one pipelined run_many (zenrt modes, --iters rounds)")
    args = ap.parse_args()

    import torch
    import export_models as em

    torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default for matmul
    log(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}; cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}")
    modes = [m for m in args.modes.split(",") if m]
    names = [n for n in (args.only.split(",") if args.only else em.MODELS) if n]
    batches = [int(b) for b in args.batches.split(",")]
    root = Path(args.models)
    rows = []
    for name in names:
        spec = em.MODELS[name]()
        module = spec["module"].eval().cuda()
        in_names = [i[0] for i in spec["inputs"]]
        for b in batches:
            rng = np.random.default_rng(7)
            feeds = em.make_inputs(spec["inputs"], b, SEQ.get(name), rng)
            npz = root / name / f"bench_b{b}.npz"
            np.savez(npz, **feeds)
            row = {"model": name, "batch": b}
            for key, flags in ZENRT_FLAGS.items():
                if key in modes:
                    row[key] = bench_zenrt(args.zenrt, root / name / "model.onnx", npz, args.iters, args.warmup, flags,
                                           args.pipeline)
            for mode in [m[len("torch_"):] for m in modes if m.startswith("torch_")]:
                try:
                    row[f"torch_{mode}"] = bench_torch(module, feeds, in_names, args.iters, args.warmup, mode)
                except Exception as e:  # noqa: BLE001 - report and go on
                    row[f"torch_{mode}"] = {"error": str(e)[-300:]}
            log(json.dumps(row))
            rows.append(row)
            Path(args.out).write_text(json.dumps(rows, indent=1))
    cols = modes
    log("\n| model | batch | " + " | ".join(c + " ms (MiB)" for c in cols) + " |")
    log("|---|---|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, {})
            cells.append("-" if not v else "err" if "error" in v else f"{v['median_ms']:.3f} ({v['peak_mib']:.0f})")
        log(f"| {r['model']} | {r['batch']} | " + " | ".join(cells) + " |")
    splits = [(r, c, r[c]) for r in rows for c in cols if isinstance(r.get(c), dict) and r[c].get("split_ms")]
    if splits:
        log("\n| model | batch | mode | run (ms) | host staging | upload | graph | download | device-resident replay |")
        log("|---|---|---|---|---|---|---|---|---|")
        for r, c, v in splits:
            sp = v["split_ms"]
            log(f"| {r['model']} | {r['batch']} | {c} | {sp['run']:.3f} | {sp['stage']:.3f} | {sp['upload']:.3f} | "
                f"{sp['graph']:.3f} | {sp['download']:.3f} | {v['resident_ms']:.3f} |")
    if args.pipeline:
        log(f"\n| model | batch | mode | {args.pipeline} runs one by one (ms) | run_many (ms) | gain |")
        log("|---|---|---|---|---|---|")
        for r in rows:
            for c in cols:
                v = r.get(c, {})
                if v.get("one_by_one_ms") and v.get("run_many_ms"):
                    a, b = v["one_by_one_ms"], v["run_many_ms"]
                    log(f"| {r['model']} | {r['batch']} | {c} | {a:.3f} | {b:.3f} | x{a / b:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
