#!/usr/bin/env python3
"""The SGEMM ceiling of this machine: single- and multi-thread f32 GFLOP/s of square C = A·B for NumPy (its BLAS,
usually OpenBLAS), PyTorch's CPU matmul and zenrt's own `ops::gemm::gemm` (whichever kernel is current), printed as
a Markdown table ready for docs/benchmarks.md.

    python3 scripts/gemm_ceiling.py                         # sizes 512,1024,2048; threads 1,2
    python3 scripts/gemm_ceiling.py --sizes 256,512 --threads 1 --min-secs 0.2
    python3 scripts/gemm_ceiling.py --models --libs numpy,zenrt  # the GEMM shapes resnet50/bert/mobilenet_v2 run
    python3 scripts/gemm_ceiling.py --log resnet50 --batch 8     # log those shapes from a model run (ZENRT_GEMM_LOG)
    python3 scripts/gemm_ceiling.py --libs numpy,zenrt,gemm-crate   # also the `gemm` crate (bench/gemm-crate)

Shapes are `n` (square) or `MxNxK` (A M×K, B K×N, both row-major); a trailing `a` / `b` marks A / B as constant
weights, which zenrt packs once ahead of time (as its planner does) and NumPy multiplies as they are.

Each library runs in its own subprocess with its thread count fixed before import (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS, MKL_NUM_THREADS, torch.set_num_threads), times the product repeatedly (at least 3 runs and
--min-secs seconds after a warm-up) and reports the best and the median run. GFLOP/s = 2·n³ / time. The
ceiling is the best run: on a shared machine the median is what you get, the best what the core can do.
zenrt is built here with `cargo build --release -p zenrt --example gemm_ceiling` (skipped with --no-build) and
runs `sgemm` in its own thread pool, as a model does. `gemm-crate` is bench/gemm-crate (its own workspace, built
with `cargo build --release --manifest-path bench/gemm-crate/Cargo.toml`): the `gemm` crate 0.18 with
`Parallelism::Rayon(T)` in a rayon pool of T threads (`Parallelism::None` at 1).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "target" / "release" / "examples" / "gemm_ceiling"
# The `gemm` crate (sarah-ek's, used by candle), benchmark-only: its own Cargo workspace, never part of zenrt.
GEMM_CRATE = ROOT / "bench" / "gemm-crate"
GEMM_CRATE_BIN = GEMM_CRATE / "target" / "release" / "gemm-crate-bench"


# The heaviest GEMMs of the models at batch 1 and 8 as zenrt runs them (from `--log`, ZENRT_GEMM_LOG=1, session 6),
# with their share of the model's GEMM multiply-adds. Convolutions are A = weights [Cout, Cin·kh·kw] (packed ahead
# of time: suffix `a`) times B = one image [Cin·kh·kw, H·W] (im2col on the fly); 3×3 stride-1 convs run Winograd
# (36 GEMMs [Cout, Cin]·[Cin, tiles]). BERT (4 layers, hidden 256, 32 tokens per sequence) multiplies activations
# [tokens, K] by packed weights (suffix `b`).
MODEL_SHAPES = {
    "resnet50 3x3 512 @7 im2col (11%)": "512x49x4608a",
    "resnet50 1x1 256->1024 @14 (10%)": "1024x196x256a",
    "resnet50 1x1 1024->256 @14 (8%)": "256x196x1024a",
    "resnet50 1x1 64->256 @56 (7%)": "256x3136x64a",
    "resnet50 1x1 128->512 @28 (7%)": "512x784x128a",
    "resnet50 winograd 256 @14 b1 (6%)": "256x16x256a",
    "resnet50 winograd 256 @14 b8 (6%)": "256x128x256a",
    "resnet50 1x1 512->128 @28 (5%)": "128x784x512a",
    "resnet50 1x1 512->2048 @7 (5%)": "2048x49x512a",
    "resnet50 1x1 256->64 @56 (3%)": "64x3136x256a",
    "bert b1 qkv/out (33%)": "32x256x256b",
    "bert b1 ffn up (33%)": "32x1024x256b",
    "bert b1 ffn down (33%)": "32x256x1024b",
    "bert b8 qkv/out (33%)": "256x256x256b",
    "bert b8 ffn up (33%)": "256x1024x256b",
    "bert b8 ffn down (33%)": "256x256x1024b",
    "mobilenet_v2 1x1 96->144 @14 (12%)": "144x196x96a",
    "mobilenet_v2 1x1 576->96 @14 (8%)": "96x196x576a",
    "mobilenet_v2 1x1 320->1280 @7 (8%)": "1280x49x320a",
    "mobilenet_v2 1x1 16->96 @56 band (7%)": "96x896x16a",
}


def parse_shape(s):
    m, n, k, *_ = [int(x) for x in s.rstrip("ab").split("x")] * (3 if "x" not in s else 1)
    return m, n, k


def worker(lib, shapes, threads, min_secs):
    """Runs in a subprocess whose thread environment was set by the parent."""
    import numpy as np

    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
        version = torch.__version__
    else:
        version = np.__version__
    rng = np.random.default_rng(0)
    for shape in shapes:
        m, n, k = parse_shape(shape)
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        if lib == "torch":
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            out = torch.empty((m, n), dtype=torch.float32)
            run = lambda: torch.matmul(ta, tb, out=out)  # noqa: E731
        else:
            out = np.empty((m, n), dtype=np.float32)
            run = lambda: np.matmul(a, b, out=out)  # noqa: E731
        run()
        # A broken BLAS must not post a number: one element against float64.
        i, j = m // 3, n // 2
        want = float(np.dot(a[i].astype(np.float64), b[:, j].astype(np.float64)))
        got = float(out[i, j])
        if abs(got - want) > 1e-3 * (1 + abs(want)):
            raise SystemExit(f"{lib}: wrong result at {shape}: {got} vs {want}")
        times, start = [], time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < min_secs:
            t = time.perf_counter()
            run()
            times.append(time.perf_counter() - t)
        times.sort()
        best, median = times[0], times[len(times) // 2]
        flop = 2.0 * m * n * k
        print(json.dumps({"impl": lib, "version": version, "shape": shape, "threads": threads, "runs": len(times),
                          "best_ms": best * 1e3, "median_ms": median * 1e3, "gflops_best": flop / best / 1e9,
                          "gflops_median": flop / median / 1e9}), flush=True)


def blas_name():
    try:
        import numpy as np

        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - informational only
        return "?"


def run_lines(cmd, env=None, timeout=900):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:3]))}...: exit {p.returncode}: {(p.stderr or p.stdout).strip()[-300:]}")
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def machine():
    model, cpus = platform.processor() or "?", os.cpu_count()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                model = v.strip()
            elif k.strip() == "CPU(s)":
                cpus = v.strip()
    except OSError:
        pass
    return model, cpus


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="512,1024,2048", help="square sizes, or MxNxK[b] shapes")
    ap.add_argument("--models", action="store_true", help="time the model shapes of MODEL_SHAPES instead")
    ap.add_argument("--log", metavar="MODEL", help="print the GEMM shapes one zenrt run of MODEL performs, and exit")
    ap.add_argument("--batch", type=int, default=1, help="batch of the --log run")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--min-secs", type=float, default=1.0, help="timing budget per size, library and thread count")
    ap.add_argument("--libs", default="numpy,torch,zenrt")
    ap.add_argument("--no-build", action="store_true", help="use target/release/examples/gemm_ceiling as it is")
    a = ap.parse_args()
    if a.log:
        return log_shapes(a.log, a.batch, a.threads.split(",")[0])
    sizes = list(MODEL_SHAPES.values()) if a.models else [s.strip() for s in a.sizes.split(",")]
    labels = {v: k for k, v in MODEL_SHAPES.items()} if a.models else {}
    threads = [int(t) for t in a.threads.split(",")]
    libs = [l.strip() for l in a.libs.split(",") if l.strip()]

    results, notes = [], []
    for lib in libs:
        if lib in ("zenrt", "gemm-crate"):
            build, exe = (["cargo", "build", "--release", "-q", "-p", "zenrt", "--example", "gemm_ceiling"], EXAMPLE)
            if lib == "gemm-crate":
                build, exe = (["cargo", "build", "--release", "-q", "--manifest-path", str(GEMM_CRATE / "Cargo.toml")],
                              GEMM_CRATE_BIN)
            if not a.no_build and subprocess.run(build, cwd=ROOT).returncode != 0:
                notes.append(f"{lib}: build failed")
                continue
            try:
                results += run_lines([str(exe), "--shapes", ",".join(sizes), "--threads", a.threads,
                                      "--min-secs", str(a.min_secs)])
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                notes.append(f"{lib}: {e}")
            continue
        for t in threads:
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
            try:
                results += run_lines([sys.executable, str(Path(__file__).resolve()), "--_worker", lib, ",".join(sizes), str(t),
                                      str(a.min_secs)], env=env)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                notes.append(f"{lib} threads {t}: {e}")
        print(f"  {lib} done", file=sys.stderr, flush=True)

    cpu, ncpu = machine()
    versions = {r["impl"]: r.get("version") for r in results}
    cmd = " ".join(["python3", "scripts/gemm_ceiling.py"] + sys.argv[1:])
    lines = [
        f"Generated by `{cmd}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Machine: {cpu}, {ncpu} CPU(s) ({platform.system()} {platform.release()}). NumPy {versions.get('numpy', '?')} "
        f"({blas_name()}), PyTorch {versions.get('torch', '?')}, zenrt `ops::gemm::sgemm`, `gemm` crate "
        f"{versions.get('gemm-crate', '—')} (no pre-packing: it packs both operands every call).",
        "",
        "SGEMM GFLOP/s, f32, best run (median run in parentheses):",
        "",
    ]

    def cell(lib, t, shape):
        r = next((r for r in results if r["impl"] == lib and r["threads"] == t and r["shape"] == shape), None)
        return "—" if r is None else f"{r['gflops_best']:.1f} ({r['gflops_median']:.1f})"

    if a.models:
        cols = [f"{lib} {t}T" for t in threads for lib in libs]
        lines += ["| GEMM | M×N×K | " + " | ".join(cols) + " |", "|---|---|" + "--:|" * len(cols)]
        for shape in sizes:
            cells = [cell(lib, t, shape) for t in threads for lib in libs]
            lines.append(f"| {labels[shape]} | {shape} | " + " | ".join(cells) + " |")
    else:
        lines += ["| library | threads | " + " | ".join(f"n={n}" for n in sizes) + " |",
                  "|---|--:|" + "--:|" * len(sizes)]
        for lib in libs:
            for t in threads:
                lines.append(f"| {lib} | {t} | " + " | ".join(cell(lib, t, n) for n in sizes) + " |")
    for n in notes:
        lines.append(f"- Failure: {n}")
    print("\n".join(lines))
    return 1 if notes else 0


def log_shapes(model, batch, threads):
    """Runs `zenrt bench` once on MODEL's generated inputs with ZENRT_GEMM_LOG=1; prints each GEMM shape with its
    count and share of the multiply-adds."""
    import collections

    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_vs_ort as bvo  # noqa: E402 - for its input generator

    path = Path.home() / ".cache" / "zenrt" / "models" / model / "model.onnx"
    import numpy as np

    npz = f"/tmp/gemm_log_{model}_b{batch}.npz"
    np.savez(npz, **bvo.make_inputs(path, batch, 0)[0])
    cmd = [str(ROOT / "target" / "release" / "zenrt"), "bench", str(path), "--inputs", npz, "--threads", threads,
           "--warmup", "0", "--iters", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, ZENRT_GEMM_LOG="1"))
    counts = collections.Counter(tuple(l.split()[1:6]) for l in p.stderr.splitlines() if l.startswith("zenrt-gemm"))
    total = sum(int(m) * int(n) * int(k) * c for (m, n, k, *_), c in counts.items()) or 1
    print(f"{model} inputs {npz}: {sum(counts.values())} GEMMs, {total / 1e9:.2f} G multiply-adds")
    print("| M | N | K | A | B | count | share of MACs |\n|--:|--:|--:|---|---|--:|--:|")
    for (m, n, k, ka, kb), c in sorted(counts.items(), key=lambda x: -int(x[0][0]) * int(x[0][1]) * int(x[0][2]) * x[1]):
        print(f"| {m} | {n} | {k} | {ka} | {kb} | {c} | {int(m) * int(n) * int(k) * c / total:.1%} |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--_worker":
        worker(sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(main())
