#!/usr/bin/env python3
"""The SGEMM ceiling of this machine: single- and multi-thread f32 GFLOP/s of square C = A·B for NumPy (its BLAS,
usually OpenBLAS), PyTorch's CPU matmul and zenrt's own `ops::gemm::gemm` (whichever kernel is current), printed as
a Markdown table ready for docs/benchmarks.md.

    python3 scripts/gemm_ceiling.py                         # sizes 512,1024,2048; threads 1,2
    python3 scripts/gemm_ceiling.py --sizes 256,512 --threads 1 --min-secs 0.2

Each library runs in its own subprocess with its thread count fixed before import (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS, MKL_NUM_THREADS, torch.set_num_threads), times the product repeatedly (at least 3 runs and
--min-secs seconds after a warm-up) and reports the best and the median run. GFLOP/s = 2·n³ / time. The
ceiling is the best run: on a shared machine the median is what you get, the best what the core can do.
zenrt is built here with `cargo build --release -p zenrt --example gemm_ceiling` (skipped with --no-zenrt); its
GEMM is single-threaded, so its multi-thread figure splits C's rows over threads in the example program itself.
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


def worker(lib, sizes, threads, min_secs):
    """Runs in a subprocess whose thread environment was set by the parent."""
    import numpy as np

    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
        version = torch.__version__
    else:
        version = np.__version__
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        if lib == "torch":
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            out = torch.empty((n, n), dtype=torch.float32)
            run = lambda: torch.matmul(ta, tb, out=out)  # noqa: E731
        else:
            out = np.empty((n, n), dtype=np.float32)
            run = lambda: np.matmul(a, b, out=out)  # noqa: E731
        run()
        # A broken BLAS must not post a number: one element against float64.
        i, j = n // 3, n // 2
        want = float(np.dot(a[i].astype(np.float64), b[:, j].astype(np.float64)))
        got = float(out[i, j])
        if abs(got - want) > 1e-3 * (1 + abs(want)):
            raise SystemExit(f"{lib}: wrong result at n={n}: {got} vs {want}")
        times, start = [], time.perf_counter()
        while len(times) < 3 or time.perf_counter() - start < min_secs:
            t = time.perf_counter()
            run()
            times.append(time.perf_counter() - t)
        times.sort()
        best, median = times[0], times[len(times) // 2]
        flop = 2.0 * n**3
        print(json.dumps({"impl": lib, "version": version, "n": n, "threads": threads, "runs": len(times),
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
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--min-secs", type=float, default=1.0, help="timing budget per size, library and thread count")
    ap.add_argument("--libs", default="numpy,torch,zenrt")
    ap.add_argument("--no-build", action="store_true", help="use target/release/examples/gemm_ceiling as it is")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    libs = [l.strip() for l in a.libs.split(",") if l.strip()]

    results, notes = [], []
    for lib in libs:
        if lib == "zenrt":
            if not a.no_build:
                b = subprocess.run(["cargo", "build", "--release", "-q", "-p", "zenrt", "--example", "gemm_ceiling"],
                                   cwd=ROOT)
                if b.returncode != 0:
                    notes.append("zenrt: build of the gemm_ceiling example failed")
                    continue
            try:
                results += run_lines([str(EXAMPLE), "--sizes", a.sizes, "--threads", a.threads,
                                      "--min-secs", str(a.min_secs)])
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                notes.append(f"zenrt: {e}")
            continue
        for t in threads:
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
            try:
                results += run_lines([sys.executable, str(Path(__file__).resolve()), "--_worker", lib, a.sizes, str(t),
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
        f"({blas_name()}), PyTorch {versions.get('torch', '?')}, zenrt `ops::gemm::gemm`.",
        "",
        "SGEMM GFLOP/s, square n×n·n×n f32, best run (median run in parentheses):",
        "",
        "| library | threads | " + " | ".join(f"n={n}" for n in sizes) + " |",
        "|---|--:|" + "--:|" * len(sizes),
    ]
    for lib in libs:
        for t in threads:
            cells = []
            for n in sizes:
                r = next((r for r in results if r["impl"] == lib and r["threads"] == t and r["n"] == n), None)
                cells.append("—" if r is None else f"{r['gflops_best']:.1f} ({r['gflops_median']:.1f})")
            label = f"{lib} (row-split over threads)" if lib == "zenrt" and t > 1 else lib
            lines.append(f"| {label} | {t} | " + " | ".join(cells) + " |")
    for n in notes:
        lines.append(f"- Failure: {n}")
    print("\n".join(lines))
    return 1 if notes else 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--_worker":
        worker(sys.argv[2], [int(s) for s in sys.argv[3].split(",")], int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(main())
