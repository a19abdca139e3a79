#!/usr/bin/env python3
"""Mutation fuzzing of model files through the CLI: corrupted models must give a clean error, never a crash.

    python3 scripts/fuzz_models.py [--iters 300] [--seed 0] [--seeds DIR ...] [--keep DIR]

Seed models: every `model.onnx` under the given directories (default: the ONNX backend node cases of
$ZENRT_ONNX_TESTDATA, ~1900 small models). Each iteration takes one seed, mutates it (random bytes, truncation,
inserted 0xff runs that make varints and lengths huge, duplicated chunks, boundary bytes) and runs
`zenrt run MODEL --threads 1` (inputs generated) under a 6 GiB address-space limit and a timeout (20 s: meant
for small seeds; a mutated large model that stays valid simply runs, so give large seeds a timeout above their run
time).

Acceptable: exit 0 (the mutation kept the model valid) or exit 1 with an error message. A failure is a panic
(exit 101 or "panicked"), a signal (segfault, abort from an allocation failure), or a timeout; the mutated file
is kept (--keep) to reproduce it. The exit status is the number of failures.
"""

import argparse
import glob
import os
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mutate(rng, b):
    b = bytearray(b)
    kind = rng.randrange(5)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:
        del b[rng.randrange(len(b)):]
    elif kind == 2:
        i = rng.randrange(len(b))
        b[i:i] = bytes([0xFF] * rng.randint(1, 9))
    elif kind == 3:
        i = rng.randrange(len(b))
        b[i:i] = b[i:min(len(b), i + rng.randint(1, 64))]
    else:
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFF])
    return bytes(b)


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))


def main():
    default = os.path.join(os.environ.get("ZENRT_ONNX_TESTDATA",
                                          os.path.expanduser("~/.cache/zenrt/onnx-testdata-1.23.2")), "node")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", nargs="*", default=[default])
    ap.add_argument("--keep", default="target/fuzz-failures")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per run")
    ap.add_argument("--zenrt", default=str(ROOT / "target/release/zenrt"))
    a = ap.parse_args()
    seeds = sorted(p for d in a.seeds for p in glob.glob(os.path.join(d, "**", "model.onnx"), recursive=True))
    if not seeds:
        sys.exit(f"no model.onnx under {a.seeds}")
    rng = random.Random(a.seed)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.onnx"
        for it in range(a.iters):
            src = rng.choice(seeds)
            data = mutate(rng, Path(src).read_bytes())
            path.write_bytes(data)
            try:
                r = subprocess.run([a.zenrt, "run", str(path), "--threads", "1"], capture_output=True, text=True,
                                   timeout=a.timeout, preexec_fn=limit_memory)
                out = (r.stdout + r.stderr).strip()
                bad = None
                if r.returncode not in (0, 1) or "panicked" in out:
                    bad = f"exit {r.returncode}: {(out.splitlines() or [''])[-1][:200]}"
                elif r.returncode == 1 and "error" not in out:
                    bad = "exit 1 without an error message"
            except subprocess.TimeoutExpired:
                bad = f"timeout ({a.timeout:g} s)"
            if bad:
                failures += 1
                Path(a.keep).mkdir(parents=True, exist_ok=True)
                kept = Path(a.keep) / f"fuzz_{a.seed}_{it}.onnx"
                kept.write_bytes(data)
                print(f"FAIL iteration {it} (from {src}): {bad}; kept {kept}", flush=True)
    print(f"fuzz: {a.iters - failures} of {a.iters} mutated models handled cleanly "
          f"({len(seeds)} seeds, seed {a.seed})", flush=True)
    sys.exit(min(failures, 100))


if __name__ == "__main__":
    main()
