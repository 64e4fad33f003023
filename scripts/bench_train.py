#!/usr/bin/python3
"""PyTorch peer of bench/train_bench.cpp: training throughput of a plain PyTorch loop.

Same architectures as the compress zoo (src/frontend/zoo.cpp: lenet5, resnet8 with torchvision
naming, vit_tiny in timm's layout), Fashion-MNIST-shaped data (1x28x28, 10 classes; random, or the
real training set with --data fashion_mnist), SGD momentum 0.9, lr 0.01, weight decay 5e-4 (or
--optimizer adamw as recipes/fmnist_vit_tiny.yaml), batch 128, N warm-up + M timed steps, torch.set_num_threads(2). Prints one JSON line {"model", "img_per_s", "img_per_cpu_s", ...}
(img_per_cpu_s: images per second of process CPU time, all threads; less sensitive to other load).

Run with Debian's python (torch 1.13): /usr/bin/python3 scripts/bench_train.py --model resnet8
"""
import argparse
import gzip
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from vit_tiny_torch import vit_tiny_fmnist


class LeNet5(nn.Module):
    """zoo lenet5: conv1 is padded by 2 on inputs smaller than 32x32 (28x28 -> classic geometry)."""

    def __init__(self, in_ch=1, hw=28, num_classes=10):
        super().__init__()
        pad = 2 if hw < 32 else 0
        self.conv1 = nn.Conv2d(in_ch, 6, 5, padding=pad)
        self.conv2 = nn.Conv2d(6, 16, 5)
        s = ((hw + 2 * pad - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.downsample is None else self.downsample(x)
        return self.relu(y + s)


class CifarResNet(nn.Module):
    """zoo resnet8 (blocks=1) / resnet20 (blocks=3): 16/32/64 channels, option-B shortcuts."""

    def __init__(self, blocks=1, in_ch=1, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=False)
        layers, cin = [], 16
        for stage, width in enumerate([16, 32, 64]):
            mods = []
            for i in range(blocks):
                mods.append(BasicBlock(cin, width, 2 if stage > 0 and i == 0 else 1))
                cin = width
            layers.append(nn.Sequential(*mods))
        self.layer1, self.layer2, self.layer3 = layers
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# zoo vit_tiny (timm's VisionTransformer(class_token=False, global_pool="avg") layout), as the zoo test's
# builder (tests/frontend/zoo_test.cpp): 4x4 patches, width 64, 4 pre-norm blocks of 2-head attention
# (PyTorch's own F.multi_head_attention_forward, qkv as in_proj), 2x GELU MLP, mean over tokens.
MODELS = {"lenet5": LeNet5, "resnet8": lambda: CifarResNet(1), "resnet20": lambda: CifarResNet(3),
          "vit_tiny": vit_tiny_fmnist}


def load_fashion_mnist(path="/usr/share/datasets/fashion-mnist"):
    def idx(name, offset):
        with gzip.open(os.path.join(path, name), "rb") as f:
            return torch.frombuffer(bytearray(f.read()[offset:]), dtype=torch.uint8)
    images = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    labels = idx("train-labels-idx1-ubyte.gz", 8).long()
    return images, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet8", choices=sorted(MODELS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="random", choices=["random", "fashion_mnist"])
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = args.batch * (args.warmup + args.steps)
    if args.data == "random":
        images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8)
        labels = torch.randint(0, 10, (n,))
    else:
        images, labels = load_fashion_mnist()
    model = MODELS[args.model]()
    model.train()
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    else:  # as recipes/fmnist_vit_tiny.yaml: decoupled weight decay 0.05, none on biases and norms
        decay = [p for p in model.parameters() if p.dim() > 1]
        no_decay = [p for p in model.parameters() if p.dim() <= 1]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=0.002)
    order = torch.randperm(images.shape[0])

    start = None
    for step in range(args.warmup + args.steps):
        idx = order[step * args.batch:(step + 1) * args.batch]
        x = images.index_select(0, idx).float().div_(255.0)
        y = labels.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        if step + 1 == args.warmup:
            start, cpu_start = time.perf_counter(), time.process_time()
    secs, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    images = args.steps * args.batch
    print(json.dumps({"model": args.model, "img_per_s": round(images / secs, 1),
                      "img_per_cpu_s": round(images / cpu, 1), "impl": "pytorch",
                      "batch": args.batch, "steps": args.steps, "optimizer": args.optimizer, "threads": torch.get_num_threads(),
                      "seconds": round(secs, 3)}))


if __name__ == "__main__":
    main()
