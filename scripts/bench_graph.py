"""A TorchScript chain of BLOCKS residual blocks for scripts/bench_graph.sh: each block is
linear(16,16) -> * 0.5 -> relu -> + block input, ~7 IR nodes after import (weight, bias, linear,
scale constant, mul, relu, add), so 2900 blocks make a graph of ~20k nodes. The optimizer folds
every `* 0.5` into its linear (fold_scale_shift), which exercises insert/remove/lookup per block.

    /usr/bin/python3 scripts/bench_graph.py OUT.pt [BLOCKS]
"""
import sys

import torch


class Chain(torch.nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(16, 16) for _ in range(blocks))

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x) * 0.5) + x
        return x


def main():
    out = sys.argv[1]
    blocks = int(sys.argv[2]) if len(sys.argv) > 2 else 2900
    torch.manual_seed(0)
    model = Chain(blocks).eval()
    traced = torch.jit.trace(model, torch.randn(1, 16))
    traced.save(out)


if __name__ == "__main__":
    main()
