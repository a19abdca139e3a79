#!/usr/bin/env python3
"""Train the digits CNN in zenrt and in PyTorch side by side: same architecture, same initial
weights (exported from PyTorch), same per-epoch row order, batch size, optimizer and thread count.
Reports per-step time and final held-out accuracy of each.

    python3 scripts/bench_train_vs_torch.py [--zenrt target/release/zenrt] [--epochs 15] [--repeats 3]

zenrt runs single-threaded, so PyTorch gets torch.set_num_threads(1) (--threads to change it).
Runs alternate (zenrt, torch, zenrt, torch, ...); per-step times are medians over the repeats.
Per-step time = the training loop only (batch gather, forward, loss, backward, optimizer update),
validation excluded, in both.
"""
import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write_safetensors(path, tensors):
    """Minimal safetensors writer (float32, little-endian)."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def torch_model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(32 * 3 * 3, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def zenrt_names(m):
    """PyTorch parameters under zenrt's names and layouts (Dense kernels are [in, out])."""
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    return {
        "conv2d.kernel": sd["0.weight"], "conv2d.bias": sd["0.bias"],
        "dense.kernel": sd["4.weight"].T, "dense.bias": sd["4.bias"],
        "dense_1.kernel": sd["6.weight"].T, "dense_1.bias": sd["6.bias"],
    }


def run_torch(init_state, x, y, ntrain, order, args):
    torch.set_num_threads(args.threads)
    m = torch_model()
    m.load_state_dict(init_state)
    opt = torch.optim.Adam(m.parameters(), lr=args.lr, eps=1e-7)
    xt, yt = torch.from_numpy(x[:ntrain]), torch.from_numpy(y[:ntrain])
    xv, yv = torch.from_numpy(x[ntrain:]), torch.from_numpy(y[ntrain:])
    steps, secs = 0, 0.0
    for ep in range(args.epochs):
        perm = torch.from_numpy(order[ep])
        t0 = time.perf_counter()
        for i in range(0, ntrain, args.batch):
            idx = perm[i:i + args.batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(m(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            steps += 1
        secs += time.perf_counter() - t0
    with torch.no_grad():
        acc = (m(xv).argmax(1) == yv).float().mean().item()
    return 1e3 * secs / steps, acc


def run_zenrt(cfg, args):
    out = subprocess.run([args.zenrt, "train", cfg, "--json", "-q"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"zenrt train failed:\n{out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["step_ms"], r["val_accuracy"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zenrt", default=os.path.join(ROOT, "target/release/zenrt"))
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/zenrt/data/digits.npz"))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(args.data):
        subprocess.check_call([sys.executable, os.path.join(HERE, "export_digits.py"), args.data])
    d = np.load(args.data)
    x, y = d["x"], d["y"]
    n = len(y)
    ntrain = int(n * (1 - 0.2))
    torch.manual_seed(args.seed)
    init = torch_model().state_dict()
    rng = np.random.default_rng(args.seed)
    order = np.stack([rng.permutation(ntrain) for _ in range(args.epochs)]).astype(np.int64)

    tmp = tempfile.mkdtemp(prefix="zenrt-bench-train-")
    try:
        write_safetensors(os.path.join(tmp, "init.safetensors"), zenrt_names(_with(init)))
        np.save(os.path.join(tmp, "order.npy"), order)
        with open(os.path.join(ROOT, "examples/digits_cnn.toml")) as f:
            text = f.read()
        text = text.replace("seed = 0", f'seed = {args.seed}\ninit_weights = "{tmp}/init.safetensors"', 1)
        text = text.replace("validation_split = 0.2", f'validation_split = 0.2\norder = "{tmp}/order.npy"', 1)
        text = text.replace("lr = 0.002", f"lr = {args.lr}").replace("epochs = 15", f"epochs = {args.epochs}")
        text = text.replace("batch_size = 32", f"batch_size = {args.batch}")
        text += f'\n[output]\nonnx = "{tmp}/m.onnx"\nweights = "{tmp}/m.safetensors"\nplot = "{tmp}/m.png"\n'
        cfg = os.path.join(tmp, "bench.toml")
        with open(cfg, "w") as f:
            f.write(text)
        z, t = [], []
        for _ in range(args.repeats):
            z.append(run_zenrt(cfg, args))
            t.append(run_torch(init, x, y, ntrain, order, args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    zs, ts = statistics.median(s for s, _ in z), statistics.median(s for s, _ in t)
    steps = args.epochs * -(-ntrain // args.batch)
    print(f"digits CNN, {ntrain} train / {n - ntrain} held out, batch {args.batch}, Adam lr {args.lr}, "
          f"{args.epochs} epochs ({steps} steps), {args.threads} thread(s), median of {args.repeats} alternating runs")
    print("| framework | ms/step (median) | all runs ms/step | held-out accuracy |")
    print("| --- | --- | --- | --- |")
    print(f"| zenrt | {zs:.3f} | {', '.join(f'{s:.3f}' for s, _ in z)} | {z[-1][1]:.4f} |")
    print(f"| PyTorch {torch.__version__} | {ts:.3f} | {', '.join(f'{s:.3f}' for s, _ in t)} | {t[-1][1]:.4f} |")
    print(f"zenrt / PyTorch step time: {zs / ts:.2f}x")


def _with(state):
    m = torch_model()
    m.load_state_dict(state)
    return m


if __name__ == "__main__":
    main()
