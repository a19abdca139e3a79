#!/usr/bin/env python3
"""Benchmark zenrt against ONNX Runtime (and tract) on the real models, with identical inputs, and write a Markdown
report.

For every model, batch size and thread count, the engines run alternately, each in its own subprocess
(`target/release/zenrt bench ... --json`, this script's ORT worker mode, and `bench/tract-bench`'s binary when it
is built), for several rounds; the reported latency is the median over rounds of each round's median. All engines
read the same random inputs from one .npz. Each model's FLOPs (`zenrt inspect --flops`: 2 x multiply-adds of its
Conv/MatMul/Gemm/RNN nodes) give an effective GFLOP/s per engine.

    python3 scripts/bench_vs_ort.py                      # all 8 models, batch 1 and 8, threads 1 and 2
    python3 scripts/bench_vs_ort.py --short              # keras_cnn, batch 1, threads 1, few iterations (CI)
    python3 scripts/bench_vs_ort.py --models bert,lstm --batches 1 --threads 1 --iters 20 --out /tmp/b.md
    python3 scripts/bench_vs_ort.py --tract build                # build bench/tract-bench first, then include it

The models come from `python3 scripts/export_models.py` (~/.cache/zenrt/models/<name>/model.onnx). This script
builds nothing unless asked (`--tract build`): run `cargo build --release -p zenrt-cli` first. tract is a
benchmark-only dependency in its own crate (bench/tract-bench, its own workspace and target dir), never part of
zenrt; `--tract auto` (the default, except with --short) uses its binary when it exists. The generated part of the output file sits between
two HTML comments; text outside them (analysis, profiles) is kept when the file is rewritten.
"""

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZENRT = Path(os.environ.get("ZENRT_BIN", ROOT / "target" / "release" / "zenrt"))
TRACT_DIR = ROOT / "bench" / "tract-bench"
TRACT = TRACT_DIR / "target" / "release" / "tract-bench"
MODELS_DIR = Path(os.environ.get("ZENRT_MODELS", Path.home() / ".cache" / "zenrt" / "models"))
ALL_MODELS = ["resnet50", "mobilenet_v2", "efficientnet_b0", "lstm", "bigru", "bert", "dlrm", "keras_cnn"]
# Models whose zenrt runs take long today: fewer iterations by default.
HEAVY = {"resnet50", "mobilenet_v2", "efficientnet_b0"}
BATCH_NAMES = {"batch", "n", "batch_size", "batchsize", "bs"}
BEGIN, END = "<!-- bench_vs_ort:begin -->", "<!-- bench_vs_ort:end -->"


def die(msg):
    print(f"bench_vs_ort: error: {msg}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------- ORT worker (runs in its own subprocess)


def ort_worker(model, npz, threads, warmup, iters):
    import numpy as np
    import onnxruntime as ort

    feeds = dict(np.load(npz))
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(warmup):
        sess.run(None, feeds)
    samples = []
    for _ in range(iters):
        t = time.perf_counter()
        sess.run(None, feeds)
        samples.append((time.perf_counter() - t) * 1e3)
    s = stats(samples)
    # ru_maxrss is kept across execve on Linux, so in a subprocess it starts at the *parent's* peak (this driver
    # holds whole models in memory): VmHWM of this process's own address space is the honest figure, and the
    # same one `zenrt bench` reports. ru_maxrss is the fallback where /proc is missing, and is recorded too.
    ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    s.update(load_ms=load_ms, peak_rss_bytes=vm_hwm_bytes() or ru_maxrss, ru_maxrss_bytes=ru_maxrss,
             iters=iters, threads=threads, samples_ms=samples)
    print(json.dumps(s))


def vm_hwm_bytes():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def stats(samples):
    """Median, nearest-rank p90/p99, min, mean: the same rules as `zenrt bench`."""
    s = sorted(samples)
    n = len(s)

    def rank(q):
        return s[min(max(math.ceil(q * n), 1), n) - 1]

    return {"median_ms": statistics.median(s), "p90_ms": rank(0.90), "p99_ms": rank(0.99), "min_ms": s[0],
            "mean_ms": sum(s) / n}


# ---------------------------------------------------------------- inputs


def make_inputs(model_path, batch, seed):
    """Random inputs from the model's declared inputs: batch-like (or first) symbolic dims = batch, `seq` =
    the model's default sequence length (meta.json), float inputs ~ N(0,1), masks all ones, ids in [0, 100).
    Returns the feeds and the value given to each symbolic dim (by name)."""
    import numpy as np
    import onnx

    meta_path = model_path.parent / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    seq = meta.get("default_seq") or 16
    g = onnx.load(str(model_path), load_external_data=False).graph
    inits = {i.name for i in g.initializer}
    rng = np.random.default_rng(seed)
    np_types = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64}
    feeds, dims = {}, {}
    for vi in g.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            elif i == 0 or d.dim_param.lower() in BATCH_NAMES:
                shape.append(batch)
            elif "seq" in d.dim_param.lower():
                shape.append(seq)
            else:
                shape.append(1)
            if d.dim_param:
                dims[d.dim_param] = shape[-1]
        dt = np_types.get(tt.elem_type)
        if dt is None:
            die(f"{model_path}: input '{vi.name}' has an element type ({tt.elem_type}) this script does not generate")
        if dt in (np.float32, np.float16, np.float64):
            a = rng.standard_normal(shape).astype(dt)
        elif dt is np.bool_:
            a = rng.integers(0, 2, shape).astype(bool)
        elif "mask" in vi.name.lower():
            a = np.ones(shape, dt)
        else:
            a = rng.integers(0, 100, shape).astype(dt)
        feeds[vi.name] = a
    return feeds, dims


# ---------------------------------------------------------------- driver


def run_json(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        raise RuntimeError(f"exit {p.returncode}: {msg[-1] if msg else ''}")
    lines = [l for l in p.stdout.strip().splitlines() if l.strip()]
    return json.loads(lines[-1])


def bench_zenrt(model, npz, batch, threads, warmup, iters, timeout):
    cmd = [str(ZENRT), "bench", str(model), "--inputs", npz, "--batch", str(batch), "--threads", str(threads),
           "--warmup", str(warmup), "--iters", str(iters), "--json"]
    return run_json(cmd, timeout)


def bench_ort(model, npz, threads, warmup, iters, timeout):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_ort-worker", str(model), npz, str(threads),
           str(warmup), str(iters)]
    return run_json(cmd, timeout)


def bench_tract(model, npz, threads, warmup, iters, timeout):
    cmd = [str(TRACT), str(model), "--inputs", npz, "--threads", str(threads), "--warmup", str(warmup),
           "--iters", str(iters), "--json"]
    return run_json(cmd, timeout)


def build_tract():
    """Builds bench/tract-bench (its own workspace and target dir); returns an error text or None."""
    print("building bench/tract-bench (tract-onnx; several minutes the first time)...", file=sys.stderr, flush=True)
    p = subprocess.run(["cargo", "build", "--release", "--manifest-path", str(TRACT_DIR / "Cargo.toml")])
    return None if p.returncode == 0 and TRACT.is_file() else f"cargo build of {TRACT_DIR} failed"


def model_flops(model, dims, timeout):
    """2 x multiply-adds of the model's Conv/MatMul/Gemm/RNN nodes (`zenrt inspect --flops`), or None."""
    cmd = [str(ZENRT), "inspect", str(model), "--flops"] + [a for k, v in dims.items() for a in ("--dim", f"{k}={v}")]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    for line in p.stdout.splitlines():
        if line.startswith("flops total:"):
            parts = line.split()
            uncounted = line.rsplit(";", 1)[-1].split()[0] if ";" in line else "0"
            return int(parts[2]), (None if uncounted == "0" else f"{uncounted} node(s) not counted")
    return None, (p.stderr.strip().splitlines() or ["no flops line"])[-1]


def combine(rounds):
    """Median over rounds of the per-round medians (and p90s, load times); peak RSS: the largest."""
    if not rounds:
        return None
    return {
        "median_ms": statistics.median(r["median_ms"] for r in rounds),
        "p90_ms": statistics.median(r["p90_ms"] for r in rounds),
        "load_ms": statistics.median(r["load_ms"] for r in rounds),
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in rounds),
    }


def machine():
    model, cpus = platform.processor() or "?", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                model = v.strip()
            elif k.strip() == "CPU(s)":
                cpus = v.strip()
    except OSError:
        pass
    return model, cpus


def core_round_trip(tmp):
    """Cache-line round trip between CPU 0 and CPU 1 in ns (scripts/core_pingpong.c), or None without a
    C compiler or a second CPU: tells whether the host placed the two vCPUs near each other (2-thread times
    depend on it)."""
    exe = os.path.join(tmp, "core_pingpong")
    if len(os.sched_getaffinity(0)) < 2:
        return None
    try:
        if not os.path.exists(exe):
            subprocess.run(["cc", "-O2", "-pthread", str(ROOT / "scripts" / "core_pingpong.c"), "-o", exe],
                           capture_output=True, check=True, timeout=60)
        out = subprocess.run([exe], capture_output=True, text=True, timeout=30)
        return float(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def fmt(x, nd=1):
    return "—" if x is None else f"{x:.{nd}f}"


def fmt_ms(x):
    """Latencies: 2 decimals, 3 below 1 ms."""
    return fmt(x, 3 if x is not None and x < 1 else 2)


def cell_ms(res, err):
    """A latency cell: the median, or why the engine failed (tract only; zenrt/ORT failures are listed below)."""
    if res is not None:
        return fmt_ms(res["median_ms"])
    if err:
        return "failed: " + err.replace("|", "/")[:90]
    return "—"


def gflops(flops, res):
    return None if flops is None or res is None or res["median_ms"] <= 0 else flops / res["median_ms"] / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(ALL_MODELS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--iters", type=int, default=None, help="timed runs per subprocess (default 20; 5 for heavy models)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed runs per subprocess (default 2; 1 for heavy)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating engine rounds per configuration")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per subprocess")
    ap.add_argument("--tract", choices=["auto", "on", "off", "build"], default=None,
                    help="tract column: auto = when bench/tract-bench is built (default; off with --short), "
                         "on = required, build = build it first, off = never")
    ap.add_argument("--short", action="store_true", help="keras_cnn, batch 1, threads 1, 5 iterations, 1 round")
    ap.add_argument("--out", default=None, help="Markdown file to write (default docs/benchmarks.md, none with --short)")
    a = ap.parse_args()
    if a.short:
        a.models, a.batches, a.threads, a.rounds = "keras_cnn", "1", "1", 1
        a.iters = a.iters or 5
        a.warmup = 1 if a.warmup is None else a.warmup
    tract_mode = a.tract or ("off" if a.short else "auto")
    out = a.out if a.out is not None else (None if a.short else str(ROOT / "docs" / "benchmarks.md"))

    if not ZENRT.is_file():
        die(f"{ZENRT} is missing: build it first with `cargo build --release -p zenrt-cli` (this script builds nothing)")
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as e:
        die(f"{e}: install the Python tooling with `bash scripts/setup_python.sh`")
    if tract_mode == "build":
        err = build_tract()
        if err:
            die(err)
    elif tract_mode == "on" and not TRACT.is_file():
        die(f"{TRACT} is missing: build it with `--tract build` or "
            f"`cargo build --release --manifest-path bench/tract-bench/Cargo.toml`")
    use_tract = tract_mode != "off" and TRACT.is_file()
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    batches = [int(b) for b in a.batches.split(",")]
    threads = [int(t) for t in a.threads.split(",")]
    missing = [m for m in models if not (MODELS_DIR / m / "model.onnx").is_file()]
    if missing:
        die(f"model(s) {', '.join(missing)} not found under {MODELS_DIR}: run `python3 scripts/export_models.py`")

    import numpy as np

    engines = ["zenrt", "ort"] + (["tract"] if use_tract else [])
    rows, notes, tract_notes, info = [], [], [], []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="zenrt-bench-") as tmp:
        trips = [core_round_trip(tmp)]
        for m in models:
            path = MODELS_DIR / m / "model.onnx"
            iters = a.iters or (5 if m in HEAVY else 20)
            warmup = a.warmup if a.warmup is not None else (1 if m in HEAVY else 2)
            for b in batches:
                npz = os.path.join(tmp, f"{m}_b{b}.npz")
                feeds, dims = make_inputs(path, b, a.seed)
                np.savez(npz, **feeds)
                flops, flops_note = model_flops(path, dims, a.timeout)
                if flops_note:
                    info.append(f"{m} batch {b}: FLOP count: {flops_note}")
                for t in threads:
                    res = {e: [] for e in engines}
                    errs = {}
                    for r in range(a.rounds):
                        # Rotate which engine goes first, so drift on a shared machine hits all alike.
                        order = engines[r % len(engines):] + engines[: r % len(engines)]
                        for eng in order:
                            if eng in errs and eng == "tract":
                                continue  # a model tract cannot run fails the same way every round
                            try:
                                if eng == "zenrt":
                                    res[eng].append(bench_zenrt(path, npz, b, t, warmup, iters, a.timeout))
                                elif eng == "ort":
                                    res[eng].append(bench_ort(path, npz, t, warmup, iters, a.timeout))
                                else:
                                    res[eng].append(bench_tract(path, npz, t, warmup, iters, a.timeout))
                            except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                                errs[eng] = "timeout" if isinstance(e, subprocess.TimeoutExpired) else str(e)
                                msg = f"{m} batch {b} threads {t} round {r}: {eng} failed: {errs[eng]}"
                                (tract_notes if eng == "tract" else notes).append(msg)
                                print(f"  {msg}", file=sys.stderr)
                    z, o, tr = (combine(res.get(e, [])) for e in ("zenrt", "ort", "tract"))
                    ratio = z["median_ms"] / o["median_ms"] if z and o and o["median_ms"] > 0 else None
                    ratio_t = z["median_ms"] / tr["median_ms"] if z and tr and tr["median_ms"] > 0 else None
                    rows.append(dict(model=m, batch=b, threads=t, iters=iters, warmup=warmup, z=z, o=o, tr=tr,
                                     tr_err=errs.get("tract"), ratio=ratio, ratio_t=ratio_t, flops=flops))
                    tr_s = f"  tract {fmt(tr and tr['median_ms'], 3):>9} ms" if use_tract else ""
                    print(f"{m:16} b={b:<3} t={t}  zenrt {fmt(z and z['median_ms'], 3):>10} ms  "
                          f"ORT {fmt(o and o['median_ms'], 3):>9} ms{tr_s}  zenrt/ORT {fmt(ratio, 1):>6}  "
                          f"[{time.time() - started:.0f} s]", flush=True)
        trips.append(core_round_trip(tmp))

    cpu, ncpu = machine()
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    cmd = " ".join(["python3", "scripts/bench_vs_ort.py"] + sys.argv[1:])
    mib = lambda r: None if r is None else r["peak_rss_bytes"] / 2**20  # noqa: E731
    tract_version = "tract-onnx " + tract_crate_version() if use_tract else "tract not run"
    tract_method = (
        " tract (bench/tract-bench: `into_optimized`, `into_runnable`, input shapes fixed from the .npz, one reused "
        "state) runs its graph on one thread; with threads = 2 its matrix products alone use a 2-thread pool "
        "(tract-linalg's multithread-mm executor). Its load time includes its optimizer."
        if use_tract else "")
    lines = [
        BEGIN,
        f"Generated by `{cmd}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"(zenrt commit {commit}, ONNX Runtime {onnxruntime.__version__}, {tract_version}, Python "
        f"{platform.python_version()}; {time.time() - started:.0f} s in all).",
        "",
        f"Machine: {cpu}, {ncpu} CPU(s) ({platform.system()} {platform.release()}, {platform.machine()}).",
        "",
        "Core-to-core cache-line round trip (CPU 0 ↔ 1, scripts/core_pingpong.c) at the start and the end: "
        + " / ".join("not measured" if t is None else f"{t:.0f} ns" for t in trips)
        + " (on an idle machine this VM measures either about 100 ns, as for cores sharing an L3, or about 400 ns, "
        "as for cores apart; in the second state 2-thread times of the small models are up to 50% longer, for "
        "both engines; a busy machine also raises it).",
        "",
        f"Method: each configuration runs {a.rounds} round(s); in each, `zenrt bench`"
        + ("," if use_tract else " and") + " an ONNX Runtime session "
        "(CPU provider, intra_op_num_threads = threads, inter_op 1, ORT_ENABLE_ALL)"
        + (" and tract" if use_tract else "")
        + " run in separate subprocesses in rotating order, on the same inputs (one .npz). Latency = median over "
        "rounds of each round's median; peak RSS = largest over rounds of VmHWM from /proc/self/status in each "
        "subprocess (for ORT this includes the Python interpreter, NumPy and the onnxruntime module; `ru_maxrss` is "
        "not used because Linux carries it over exec from the forking parent); "
        "load = median over rounds of the session creation time. Iterations (warm-up + timed) per subprocess: "
        + ", ".join(sorted({f"{r['model']} {r['warmup']}+{r['iters']}" for r in rows}, key=lambda s: models.index(s.split()[0])))
        + ". zenrt uses an intra-op pool of `--threads` threads."
        + tract_method
        + " GFLOP = 2 × multiply-adds of the model's Conv/ConvTranspose/MatMul/Gemm/LSTM/GRU nodes at that batch "
        "(`zenrt inspect MODEL --flops --dim batch=B`); GFLOP/s = GFLOP / median latency.",
        "",
    ]
    t_cols = " tract ms | zenrt/tract |" if use_tract else ""
    t_gf = " tract GFLOP/s |" if use_tract else ""
    lines += [
        "| model | batch | threads | GFLOP | zenrt ms | ORT ms | zenrt/ORT |" + t_cols + " zenrt GFLOP/s | ORT GFLOP/s |"
        + t_gf,
        "|---|--:|--:|--:|--:|--:|--:|" + ("--:|--:|" if use_tract else "") + "--:|--:|" + ("--:|" if use_tract else ""),
    ]
    for r in rows:
        z, o, tr = r["z"], r["o"], r["tr"]
        gf = f"{r['flops'] / 1e9:.3g}" if r["flops"] is not None else "—"
        t_part = f" {cell_ms(tr, r['tr_err'])} | {fmt(r['ratio_t'], 1)} |" if use_tract else ""
        t_gfs = f" {fmt(gflops(r['flops'], tr))} |" if use_tract else ""
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['threads']} | {gf} | {cell_ms(z, None)} | {cell_ms(o, None)} | "
            f"{fmt(r['ratio'], 1)} |{t_part} {fmt(gflops(r['flops'], z))} | {fmt(gflops(r['flops'], o))} |{t_gfs}")
    lines += [
        "",
        "Tail latency, memory and load time:",
        "",
        "| model | batch | threads | zenrt p90 ms | ORT p90 ms |" + (" tract p90 ms |" if use_tract else "")
        + " zenrt peak RSS MiB | ORT peak RSS MiB |" + (" tract peak RSS MiB |" if use_tract else "")
        + " zenrt load ms | ORT load ms |" + (" tract load ms |" if use_tract else ""),
        "|---|--:|--:|" + "--:|" * (9 if use_tract else 6),
    ]
    for r in rows:
        z, o, tr = r["z"], r["o"], r["tr"]
        p90 = lambda x: fmt_ms(x and x["p90_ms"])  # noqa: E731
        load = lambda x: fmt(x and x["load_ms"])  # noqa: E731
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['threads']} | {p90(z)} | {p90(o)} |" + (f" {p90(tr)} |" if use_tract else "")
            + f" {fmt(mib(z))} | {fmt(mib(o))} |" + (f" {fmt(mib(tr))} |" if use_tract else "")
            + f" {load(z)} | {load(o)} |" + (f" {load(tr)} |" if use_tract else ""))
    lines.append("")
    for t in threads:
        for label, key in (("zenrt/ORT", "ratio"), ("zenrt/tract", "ratio_t")):
            rs = [r[key] for r in rows if r["threads"] == t and r[key]]
            if rs:
                gm = math.exp(sum(math.log(x) for x in rs) / len(rs))
                lines.append(f"- Geometric mean of {label} latency ratios, {t} thread(s): **{gm:.1f}×** "
                             f"over {len(rs)} configuration(s).")
    for n in notes:
        lines.append(f"- Failure: {n}")
    for n in tract_notes:
        lines.append(f"- tract: {n}")
    for n in info:
        lines.append(f"- Note: {n}")
    lines.append(END)
    block = "\n".join(lines)
    print()
    print(block)
    if out:
        p = Path(out)
        p.parent.mkdir(parents=True, exist_ok=True)
        old = p.read_text() if p.exists() else ""
        if BEGIN in old and END in old:
            new = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END):]
        else:
            new = "# Benchmarks: zenrt vs ONNX Runtime\n\n" + block + "\n" + old
        p.write_text(new)
        print(f"\nwrote {p}")
    return 1 if notes else 0


def tract_crate_version():
    """The tract-onnx version bench/tract-bench is locked to (from its Cargo.lock)."""
    try:
        lock = (TRACT_DIR / "Cargo.lock").read_text()
        i = lock.index('name = "tract-onnx"')
        return lock[i:].splitlines()[1].split('"')[1]
    except (OSError, ValueError, IndexError):
        return "?"


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--_ort-worker":
        ort_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        sys.exit(main())
