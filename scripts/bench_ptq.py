"""PyTorch FX post-training quantization of our trained resnet8: the peer of our `quantize` stage.

Loads the weights of a compress checkpoint (.mcm; BatchNorm kept, as recipes/fmnist_resnet8.yaml saves
it, is folded here the way our fold_batch_norm pass does, eps 1e-5) into the same network in PyTorch, then prepare_fx with the default x86 (fbgemm) qconfig mapping (run on the x86 engine torch has), calibrates on the first
CALIB training images (eval transforms), convert_fx, and measures top-1 of the float and the int8
model on the Fashion-MNIST test set. Prints one JSON line.

  /usr/bin/python3 scripts/bench_ptq.py MODEL.mcm [--calib 1024] [--threads 2] [--limit 0]
"""
import argparse
import gzip
import json
import os
import time

import torch
import torch.nn as nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

MEAN, STD = 0.2860, 0.3530  # configs/transforms/fmnist_eval.yaml


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.relu2 = nn.ReLU()
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride)) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.conv2(self.relu1(self.conv1(x)))
        s = x if self.downsample is None else self.downsample(x)
        return self.relu2(y + s)


class ResNet8Folded(nn.Module):
    """zoo resnet8 with BatchNorm folded into the convs (what the checkpoint holds)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(Block(16, 16, 1))
        self.layer2 = nn.Sequential(Block(16, 32, 2))
        self.layer3 = nn.Sequential(Block(32, 64, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.relu(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def load_mcm(path):
    archive = torch.jit.load(path, map_location="cpu")
    return {k[2:]: v for k, v in archive.named_buffers() if k.startswith("t/")}


def fold_batch_norms(tensors, eps=1e-5):
    """conv weight [+ bias] followed by BatchNorm -> folded weight and bias (zoo resnet8 names)."""
    out = dict(tensors)
    for name in list(tensors):
        if not name.endswith(".weight") or tensors[name].dim() != 4:
            continue
        conv = name[: -len(".weight")]
        if conv.endswith("downsample.0"):
            bn = conv[: -1] + "1"
        else:
            head, _, last = conv.rpartition(".")
            bn = (head + "." if head else "") + last.replace("conv", "bn")
        if bn + ".running_var" not in tensors:
            continue
        scale = tensors[bn + ".weight"] / torch.sqrt(tensors[bn + ".running_var"] + eps)
        bias = tensors.get(conv + ".bias", torch.zeros_like(scale))
        out[name] = tensors[name] * scale.reshape(-1, 1, 1, 1)
        out[conv + ".bias"] = (bias - tensors[bn + ".running_mean"]) * scale + tensors[bn + ".bias"]
        for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            out.pop(bn + "." + k, None)
    return out


def fashion_mnist(split, path="/usr/share/datasets/fashion-mnist"):
    prefix = "train" if split == "train" else "t10k"

    def idx(name, offset):
        with gzip.open(os.path.join(path, name), "rb") as f:
            return torch.frombuffer(bytearray(f.read()[offset:]), dtype=torch.uint8)

    x = idx(prefix + "-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).float().div(255).sub(MEAN).div(STD)
    y = idx(prefix + "-labels-idx1-ubyte.gz", 8).long()
    return x, y


def top1(model, x, y, batch=512):
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--calib", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="test images (0 = all 10k)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # Debian's torch 1.13 has no FBGEMM kernels: the x86 (= fbgemm) qconfig runs on oneDNN, the x86
    # engine it has.
    engines = torch.backends.quantized.supported_engines
    engine = next(e for e in ("x86", "fbgemm", "onednn", "qnnpack") if e in engines)
    torch.backends.quantized.engine = engine

    net = ResNet8Folded()
    tensors = fold_batch_norms(load_mcm(a.model))
    missing = set(net.state_dict()) - set(tensors)
    if missing:
        raise SystemExit(f"bench_ptq.py: {a.model} lacks {sorted(missing)} (expected a zoo resnet8)")
    net.load_state_dict({k: tensors[k] for k in net.state_dict()})
    net.eval()
    xt, yt = fashion_mnist("test")
    if a.limit:
        xt, yt = xt[: a.limit], yt[: a.limit]
    xc, _ = fashion_mnist("train")
    xc = xc[: a.calib]
    fp32 = top1(net, xt, yt)

    t0 = time.perf_counter()
    qmap = get_default_qconfig_mapping("x86")
    prepared = prepare_fx(net, qmap, example_inputs=(xc[:1],))
    with torch.no_grad():
        for i in range(0, len(xc), a.batch):
            prepared(xc[i : i + a.batch])
    quantized = convert_fx(prepared)
    seconds = time.perf_counter() - t0
    int8 = top1(quantized, xt, yt)
    print(json.dumps({"fp32_top1": fp32, "int8_top1": int8, "seconds": seconds, "calib": len(xc),
                      "test": len(xt), "qconfig": "x86", "engine": engine}))


if __name__ == "__main__":
    main()
