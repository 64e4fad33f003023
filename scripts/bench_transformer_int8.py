#!/usr/bin/env python3
"""Model and PyTorch peer for scripts/bench_transformer_int8.sh.

  make OUT_DIR      a 2-layer pre-norm nn.TransformerEncoder (d_model 64, 4 heads, MLP 128, gelu,
                    16 tokens), traced in eval mode with grad enabled (the unfused path compress
                    imports), taking N x 1 x T x C (the npy data loaders read image-shaped arrays):
                    enc.pt, x.npy (the timing batch), calib.npy (256 samples)
  summary OUT_DIR   prints OUT_DIR/ort.jsonl (bench_int8_time.js) and OUT_DIR/torch.jsonl with speed-ups
  peer OUT_DIR      PyTorch at the same batch and thread count: fp32 and
                    torch.quantization.quantize_dynamic({nn.Linear}, qint8) medians, one JSON line each
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn

T, C = 16, 64


class Enc(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(C, 4, 128, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, x):
        return self.enc(x.squeeze(1))


def make(out, batch):
    torch.manual_seed(0)
    m = Enc().eval()
    x = torch.randn(batch, 1, T, C)
    torch.jit.trace(m, x, check_trace=False).save(f"{out}/enc.pt")
    torch.save(m.state_dict(), f"{out}/enc_state.pt")
    np.save(f"{out}/x.npy", x.numpy())
    np.save(f"{out}/calib.npy", torch.randn(256, 1, T, C).numpy())


def median_ms(f, x, runs):
    with torch.no_grad():
        for _ in range(10):
            f(x)
        ms = []
        for _ in range(runs):
            t0 = time.perf_counter()
            f(x)
            ms.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(ms))


def peer(out, threads, runs):
    torch.set_num_threads(threads)
    m = Enc().eval()
    m.load_state_dict(torch.load(f"{out}/enc_state.pt"))
    x = torch.from_numpy(np.load(f"{out}/x.npy"))
    q = torch.quantization.quantize_dynamic(m, {nn.Linear}, dtype=torch.qint8)
    # torch 1.13's fused encoder fast path reads .weight tensors, which dynamically quantized linears
    # do not have: both models run the unfused layer path (the one compress imports).
    for model in (m, q):
        for layer in model.enc.layers:
            layer.activation_relu_or_gelu = 0
    for name, model in (("torch_fp32", m), ("torch_dynamic", q)):
        print(json.dumps({"name": name, "median_ms": median_ms(model, x, runs), "threads": threads, "batch": x.shape[0]}))


def summary(out):
    for line in open(f"{out}/ort.jsonl"):
        j = json.loads(line)
        print("ORT   %-14s median %8.3f ms   speed-up vs ORT fp32 %.2fx" % (j["name"], j["median_ms"], j["ratio"]))
    t = {}
    for line in open(f"{out}/torch.jsonl"):
        j = json.loads(line)
        t[j["name"]] = j["median_ms"]
        print("torch %-14s median %8.3f ms" % (j["name"], j["median_ms"]))
    print("torch quantize_dynamic speed-up vs torch fp32 %.2fx" % (t["torch_fp32"] / t["torch_dynamic"]))


if __name__ == "__main__":
    cmd, out = sys.argv[1], sys.argv[2]
    if cmd == "make":
        make(out, int(sys.argv[3]) if len(sys.argv) > 3 else 64)
    elif cmd == "summary":
        summary(out)
    elif cmd == "peer":
        peer(out, int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(f"bench_transformer_int8.py: unknown command '{cmd}' (make | peer | summary)")
