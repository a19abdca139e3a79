#!/usr/bin/env python3
"""Export scikit-learn's bundled digits dataset (1797 8x8 images, no download) to an .npz file.

    python3 scripts/export_digits.py [OUT.npz]      (default ~/.cache/zenrt/data/digits.npz)

x: float32 [N, 1, 8, 8] scaled to [0, 1] (pixel values are 0..16); y: int64 [N] labels 0..9.
Rows are shuffled once with a fixed seed (numpy default_rng(0)) so that "the last 20%" (Keras'
validation_split) is a random held-out split rather than the last writers in the file.
"""
import os
import sys

import numpy as np
from sklearn.datasets import load_digits


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/zenrt/data/digits.npz")
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    x, y = np.ascontiguousarray(x[perm]), np.ascontiguousarray(y[perm])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp.npz"
    np.savez(tmp, x=x, y=y)
    os.replace(tmp, out)
    print(f"digits: x {x.shape} {x.dtype}, y {y.shape} {y.dtype} -> {out}")


if __name__ == "__main__":
    main()
