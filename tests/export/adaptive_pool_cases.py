"""VGG-style classifiers whose adaptive pooling to 7x7 does not divide the feature map, for
tests/export/torchvision_export_test.cpp (AdaptivePoolExport).

Usage: adaptive_pool_cases.py OUT_DIR. For avg and max pooling and feature maps 5x5 (upsampling),
10x10 and 13x9 (downsampling; no AveragePool/MaxPool kernel fits), writes OUT_DIR/<case>.traced.pt,
<case>.input.npy and <case>.expected.npy (the eager module's output). Writes OUT_DIR/cases.txt: one
case name a line.
"""
import sys

import numpy as np
import torch
import torch.nn as nn


class Vgg(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.avgpool = pool((7, 7))
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def main(out):
    torch.manual_seed(0)
    names = []
    for kind, pool in (("avg", nn.AdaptiveAvgPool2d), ("max", nn.AdaptiveMaxPool2d)):
        for h, w in ((5, 5), (10, 10), (13, 9)):
            name = f"{kind}_{h}x{w}"
            m = Vgg(pool).eval()
            x = torch.randn(1, 3, h, w)
            with torch.no_grad():
                torch.jit.trace(m, x).save(f"{out}/{name}.traced.pt")
                np.save(f"{out}/{name}.input.npy", x.numpy())
                np.save(f"{out}/{name}.expected.npy", m(x).numpy())
            names.append(name + "\n")
    with open(f"{out}/cases.txt", "w") as f:
        f.writelines(names)


if __name__ == "__main__":
    main(sys.argv[1])
