#!/usr/bin/env python3
"""PyTorch peer of the vit_tiny INT8 bench (scripts/bench_transformer_int8.sh, part 2).

The zoo's vit_tiny (timm layout: 4x4 patches, width D, pre-norm blocks of H-head attention and a
2x GELU MLP, mean over tokens, fc_norm, head) rebuilt as a torch.nn.Module whose every linear is an
nn.Linear called as a module (so torch.quantization.quantize_dynamic({nn.Linear}, qint8) replaces
all of them: qkv, proj, fc1, fc2 and the head, the layers our `quantize: {mode: dynamic}` covers),
with the weights read from the fp32 ONNX export (its initializers carry the checkpoint's names).

  batch OUT.npy N                   the first N Fashion-MNIST test images, preprocessed (fmnist_eval)
  check FP32.onnx X.npy ORT_Y.npy   our fp32 export's output on X (ORT) == this module's: prints the
                                    largest difference, exit 1 above 1e-4 (float32 round-off)
  time WEIGHTS X.npy THREADS RUNS   torch fp32 and quantize_dynamic ms per batch, interleaved (each
                                    round runs both, starting with a different one), one JSON line each
  top1 FP32.onnx                    both models' top-1 on the Fashion-MNIST test set (fmnist_eval)
  wide OUT_DIR WIDTH HEADS BATCH    a vit_tiny of another width with fresh weights (speed only):
                                    vit.pt (traced at BATCH, for `compress`), vit_state.pt (WEIGHTS)
  summary OUT_DIR WIDE              the table of bench_vit_int8.sh from OUT_DIR's files
WEIGHTS: the fp32 ONNX export (.onnx) or a vit_state.pt.

PyTorch's OpenMP workers wait passively (OMP_WAIT_POLICY=PASSIVE unless set), as ORT's sessions in
bench_int8_time.js --mode interleaved run with spinning off: on this 2-core machine under load,
spinning workers made torch's fp32 vit_tiny 2.4 s per batch of 64 instead of 50 ms.
"""
import gzip
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

from vit_tiny_torch import ViTTiny

FMNIST = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530  # configs/transforms/fmnist_eval.yaml


def load(weights):
    """The module with the export's weights (heads from the attention scale, 1/sqrt(D/H)), or a
    vit_state.pt of `wide`."""
    if not weights.endswith(".onnx"):
        saved = torch.load(weights)
        m = ViTTiny(**saved["config"])
        m.load_state_dict(saved["state"])
        return m.eval()
    fp32_onnx = weights
    inits = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(fp32_onnx).graph.initializer}
    w = inits["patch_embed.proj.weight"]
    d, c, patch = w.shape[0], w.shape[1], w.shape[2]
    depth = len({k.split(".")[1] for k in inits if k.startswith("blocks.")})
    heads = int(round(d * float(inits["blocks.0.attn.scale"]) ** 2))
    m = ViTTiny(c, inits["pos_embed"].shape[1], d, depth, heads, inits["head.weight"].shape[0], patch)
    state = m.state_dict()
    missing = [k for k in state if k not in inits]
    if missing:
        sys.exit(f"bench_vit_int8.py: {fp32_onnx} has no initializer {missing[0]} (not a vit_tiny export?)")
    m.load_state_dict({k: inits[k] for k in state})
    return m.eval()


def models(fp32_onnx):
    m = load(fp32_onnx)
    return m, torch.quantization.quantize_dynamic(m, {nn.Linear}, dtype=torch.qint8)


def check(fp32_onnx, x_npy, ort_npy):
    m = load(fp32_onnx)
    with torch.no_grad():
        y = m(torch.from_numpy(np.load(x_npy))).numpy()
    diff = float(np.abs(y - np.load(ort_npy)).max())
    print(json.dumps({"check": "torch fp32 vs ORT fp32", "max_abs_diff": diff}))
    if diff > 1e-4:  # float32 round-off of the same sums in another order is ~1e-6 on logits ~10
        sys.exit(f"bench_vit_int8.py: the PyTorch vit_tiny differs from the export by {diff}: not the same model")


def timing(fp32_onnx, x_npy, threads, runs):
    torch.set_num_threads(threads)
    named = list(zip(("torch_fp32", "torch_dynamic"), models(fp32_onnx)))
    x = torch.from_numpy(np.load(x_npy))
    ms = {n: [] for n, _ in named}
    with torch.no_grad():
        for _, f in named:
            for _ in range(5):
                f(x)
        for r in range(runs):
            for k in range(len(named)):
                n, f = named[(r + k) % len(named)]
                t0 = time.perf_counter()
                f(x)
                ms[n].append((time.perf_counter() - t0) * 1e3)
    for n, _ in named:
        print(json.dumps({"name": n, "median_ms": float(np.median(ms[n])), "threads": threads,
                          "batch": int(x.shape[0]), "runs": runs, "ms": [round(v, 3) for v in ms[n]]}))


def wide(out, width, heads, batch):
    torch.manual_seed(0)
    config = dict(c=1, tokens=49, d=width, depth=4, heads=heads, classes=10, patch=4)
    m = ViTTiny(**config).eval()
    torch.save({"config": config, "state": m.state_dict()}, f"{out}/vit_state.pt")
    with torch.no_grad():
        torch.jit.trace(m, torch.randn(batch, 1, 28, 28), check_trace=False).save(f"{out}/vit.pt")


def test_images():
    return ((idx("t10k-images-idx3-ubyte.gz").reshape(-1, 1, 28, 28) / 255.0 - MEAN) / STD).astype(np.float32)


def idx(name):
    with gzip.open(f"{FMNIST}/{name}") as f:
        b = f.read()
    return np.frombuffer(b, np.uint8, offset=16 if b[3] == 3 else 8)


def top1(fp32_onnx):
    torch.set_num_threads(2)
    x = torch.from_numpy(test_images())
    labels = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    for n, f in zip(("torch_fp32", "torch_dynamic"), models(fp32_onnx)):
        with torch.no_grad():
            pred = torch.cat([f(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
        print(json.dumps({"name": n, "top1": round(100.0 * float((pred == labels).float().mean()), 2), "images": len(x)}))


def runs(path):
    """name -> every run's ms over all rounds, in order (rounds of equal length: run i of each
    model comes from the same round)."""
    ms = {}
    for line in open(path):
        j = json.loads(line)
        ms.setdefault(j["name"], []).extend(j["ms"])
    return ms


def table(out, tag, top1):
    ort, pt = runs(f"{out}/ort_{tag}.jsonl"), runs(f"{out}/torch_{tag}.jsonl")
    ref = np.array(ort["fp32"])
    base = float(np.median(ref))
    print("%-22s %8s %12s %22s" % ("variant", "top-1 %", "ms/batch", "speed-up vs ORT fp32"))
    for n, ms in ort.items():
        paired = float(np.median(ref / np.array(ms)))
        print("%-22s %8s %12.2f %21.2fx" % ("ORT " + n, top1.get(n, "-"), np.median(ms), paired))
    tf = np.array(pt["torch_fp32"])
    for n, ms in pt.items():
        own = "" if n == "torch_fp32" else "   (%.2fx over torch fp32, paired)" % np.median(tf / np.array(ms))
        print("%-22s %8s %12.2f %21.2fx%s" % (n.replace("_", " "), top1.get(n, "-"), np.median(ms),
                                              base / np.median(ms), own))


def summary(out, wide_width):
    top1 = {}
    for v in ("fp32", "static", "dynamic"):
        ev = json.load(open(f"{out}/run_{v}/report.json"))["stages"][-1]["details"].get("ort_eval", {})
        if "top1_ort" in ev:
            top1[v] = "%.2f" % (100 * ev["top1_ort"])
    for line in open(f"{out}/torch_top1.jsonl"):
        j = json.loads(line)
        top1[j["name"]] = "%.2f" % j["top1"]
    print("vit_tiny (width 64, trained; top-1 on the 10,000 test images, ORT's for the exports)")
    table(out, "vit", top1)
    if wide_width > 0:
        print(f"vit_tiny at width {wide_width} ({wide_width // 64} heads, fresh weights: speed only)")
        table(out, "wide", {})


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "batch":
        np.save(sys.argv[2], test_images()[:int(sys.argv[3])])
    elif cmd == "wide":
        wide(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "summary":
        summary(sys.argv[2], int(sys.argv[3]))
    elif cmd == "check":
        check(*sys.argv[2:5])
    elif cmd == "time":
        timing(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "top1":
        top1(sys.argv[2])
    else:
        sys.exit("usage: bench_vit_int8.py batch OUT.npy N | check FP32.onnx X.npy ORT_Y.npy | "
                 "time WEIGHTS X.npy THREADS RUNS | top1 FP32.onnx | wide OUT_DIR WIDTH HEADS BATCH")
