#!/usr/bin/python3
"""Helpers of scripts/bench_int8.sh and bench_prune.sh (numpy only, not part of the product).

  bench_int8_data.py testset OUT_DIR [BATCH]  writes OUT_DIR/x.npy (the Fashion-MNIST test set, 10000x1x28x28,
                                          normalized as configs/transforms/fmnist_eval.yaml), OUT_DIR/y.npy
                                          (labels) and OUT_DIR/xb.npy (the first BATCH images, default 64, for timing)
  bench_int8_data.py top1 LOGITS.npy LABELS.npy   prints the top-1 accuracy in percent
"""
import gzip
import sys

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # configs/transforms/fmnist_eval.yaml


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def testset(out, batch=64):
    x = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    x = ((x - MEAN) / STD).reshape(-1, 1, 28, 28).astype(np.float32)
    y = read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    np.save(f"{out}/x.npy", x)
    np.save(f"{out}/y.npy", y)
    np.save(f"{out}/xb.npy", np.ascontiguousarray(x[:batch]))


def top1(logits, labels):
    z = np.load(logits)
    y = np.load(labels)
    print(f"{100.0 * float((z.argmax(1) == y).mean()):.2f}")


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "testset":
        testset(sys.argv[2], *map(int, sys.argv[3:]))
    elif len(sys.argv) == 4 and sys.argv[1] == "top1":
        top1(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
