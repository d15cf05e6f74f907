"""Writes the first N Fashion-MNIST images of a split as uint8 NHWC samples.npy, so real data can
be scored by `onestep eval` exactly like generated samples.
  python3 scripts/fmnist_npy.py train|test N OUT.npy [DIR]
"""
import gzip
import os
import sys

import numpy as np

split, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
root = sys.argv[4] if len(sys.argv) > 4 else "/usr/share/datasets/fashion-mnist"
name = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}[split]
with gzip.open(os.path.join(root, name)) as f:
    raw = f.read()
magic, count, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
if magic != 2051 or n > count:
    raise SystemExit(f"{name}: not an idx3 image file with at least {n} images")
images = np.frombuffer(raw[16:], dtype=np.uint8, count=n * rows * cols).reshape(n, rows, cols, 1)
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
np.save(out, images)
