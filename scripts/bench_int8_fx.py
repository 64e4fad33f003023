"""PyTorch FX PTQ's own QDQ ONNX export of our trained resnet8, the peer of our INT8 export in ORT.

Loads MODEL.mcm into PyTorch exactly as scripts/bench_ptq.py does (same network, BatchNorm folded
the same way), then writes to OUT_DIR:
  torch_fp32.onnx  the float model, torch.onnx.export opset 13
  fx_int8.onnx     prepare_fx with the default x86 qconfig mapping (HistogramObserver uint8
                   activations with reduce_range, per-channel symmetric int8 weights), calibrated on
                   the first CALIB training images, convert_to_reference_fx, torch.onnx.export
                   opset 13.
torch 1.13 cannot export the reference model as it is (its Conv/Linear modules quantize their
weight with quantize_per_channel, which has no ONNX symbolic, and their state dict holds a
torch.qscheme, which tracing rejects). So each reference Conv2d/Linear is replaced by a module
that holds the integers the reference module computes (get_quantized_weight()) and dequantizes
them in an op whose ONNX form is one per-channel DequantizeLinear: int8 initializer ->
DequantizeLinear(axis 0) -> Conv/Gemm, what ORT's own quantizer writes. Activations export
unchanged (quantize_per_tensor -> QuantizeLinear, dequantize -> DequantizeLinear, uint8).
Prints one JSON line: top-1 of the reference model (PyTorch's fake-quantized simulation of the
INT8 model) on the test set.

  /usr/bin/python3 scripts/bench_int8_fx.py MODEL.mcm OUT_DIR [--calib 1024] [--threads 2] [--limit 0]
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_to_reference_fx, prepare_fx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ptq import ResNet8Folded, fashion_mnist, fold_batch_norms, load_mcm, top1  # noqa: E402


class DequantizeWeight(torch.autograd.Function):
    """(q - zero_point) * scale along `axis`; exported as one ONNX DequantizeLinear."""

    @staticmethod
    def forward(ctx, q, scale, zero_point, axis):
        shape = [1] * q.dim()
        shape[axis] = -1
        return (q.float() - zero_point.float().reshape(shape)) * scale.reshape(shape)

    @staticmethod
    def symbolic(g, q, scale, zero_point, axis):
        return g.op("DequantizeLinear", q, scale, zero_point, axis_i=axis)


class QuantizedWeight(nn.Module):
    """Conv2d / Linear with the integer weight of a reference quantized module."""

    def __init__(self, ref):
        super().__init__()
        qw = ref.get_quantized_weight()
        if qw.qscheme() not in (torch.per_channel_affine, torch.per_channel_symmetric):
            raise SystemExit(f"bench_int8_fx.py: expected per-channel weights, got {qw.qscheme()}")
        self.register_buffer("q", qw.int_repr())
        self.register_buffer("scale", qw.q_per_channel_scales().float())
        self.register_buffer("zero_point", qw.q_per_channel_zero_points().to(qw.int_repr().dtype))
        self.axis = qw.q_per_channel_axis()
        self.bias = None if ref.bias is None else nn.Parameter(ref.bias.detach().clone())
        if not torch.equal(self.weight(), ref.get_weight()):
            raise SystemExit("bench_int8_fx.py: the exported weight differs from the reference module's")
        self.conv = isinstance(ref, nn.Conv2d)
        if self.conv:
            self.args = dict(stride=ref.stride, padding=ref.padding, dilation=ref.dilation, groups=ref.groups)

    def weight(self):
        return DequantizeWeight.apply(self.q, self.scale, self.zero_point, self.axis)

    def forward(self, x):
        w = self.weight()
        return F.conv2d(x, w, self.bias, **self.args) if self.conv else F.linear(x, w, self.bias)


def replace_reference_modules(gm):
    count = 0
    for name, m in list(gm.named_modules()):
        if type(m).__module__.startswith("torch.ao.nn.quantized.reference") and isinstance(m, (nn.Conv2d, nn.Linear)):
            parent, _, leaf = name.rpartition(".")
            setattr(gm.get_submodule(parent) if parent else gm, leaf, QuantizedWeight(m))
            count += 1
    return count


def export(model, x, path):
    torch.onnx.export(model, x, path, opset_version=13, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--calib", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="test images for the PyTorch top-1 (0 = all 10k)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = next(e for e in ("x86", "fbgemm", "onednn", "qnnpack") if e in engines)

    net = ResNet8Folded()
    tensors = fold_batch_norms(load_mcm(a.model))
    missing = set(net.state_dict()) - set(tensors)
    if missing:
        raise SystemExit(f"bench_int8_fx.py: {a.model} lacks {sorted(missing)} (expected a zoo resnet8)")
    net.load_state_dict({k: tensors[k] for k in net.state_dict()})
    net.eval()
    xc, _ = fashion_mnist("train")
    xc = xc[: a.calib]
    xt, yt = fashion_mnist("test")
    if a.limit:
        xt, yt = xt[: a.limit], yt[: a.limit]

    export(net, xc[:64], os.path.join(a.out, "torch_fp32.onnx"))
    prepared = prepare_fx(net, get_default_qconfig_mapping("x86"), example_inputs=(xc[:1],))
    with torch.no_grad():
        for i in range(0, len(xc), a.batch):
            prepared(xc[i : i + a.batch])
    reference = convert_to_reference_fx(prepared)
    ref_top1 = top1(reference, xt, yt)
    replaced = replace_reference_modules(reference)  # each checks its dequantized weight is the reference's
    if replaced != 10:
        raise SystemExit(f"bench_int8_fx.py: replaced {replaced} reference Conv2d/Linear modules, expected 10")
    export(reference, xc[:64], os.path.join(a.out, "fx_int8.onnx"))
    print(json.dumps({"fx_reference_top1": ref_top1, "calib": len(xc),
                      "test": len(xt), "qconfig": "x86", "engine": torch.backends.quantized.engine}))


if __name__ == "__main__":
    main()
