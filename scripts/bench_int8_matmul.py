#!/usr/bin/env python3
"""Single linear layers in ONNX Runtime: why INT8 pays on a wide transformer and hardly on vit_tiny.

Writes, for each K x N in SHAPES, three ONNX files of one linear on a [batch, 49, K] input (symbolic
batch, as our exports) and an input of batch 64 (3136 rows):
  mm_fp32_KxN.onnx  MatMul + bias Add (float; ORT's sgemm)
  mm_dyn_KxN.onnx   DynamicQuantizeLinear + MatMulInteger + Cast + Mul + bias Add: what our
                    `quantize: {mode: dynamic}` writes (ORT fuses it into DynamicQuantizeMatMul)
  mm_qdq_KxN.onnx   QuantizeLinear -> DequantizeLinear (int8, static scale) and a per-channel int8
                    weight -> MatMul + bias Add: what static PTQ writes (ORT: QuantizeLinear +
                    MatMulIntegerToFloat + Add)
and x_K.npy. Time them with scripts/bench_int8_time.js, e.g.
  python3 scripts/bench_int8_matmul.py OUT && cd OUT && for s in 64x64 64x192 192x192 192x576; do
    node ../scripts/bench_int8_time.js --input x_${s%x*}.npy --threads 2 --runs 300 --mode interleaved \\
      fp32=mm_fp32_$s.onnx dyn=mm_dyn_$s.onnx qdq=mm_qdq_$s.onnx; done
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

SHAPES = ((64, 64), (64, 128), (128, 64), (64, 192), (192, 192), (192, 576), (192, 384), (384, 192))


def save(path, nodes, inits, k, n):
    g = h.make_graph(nodes, "linear", [h.make_tensor_value_info("x", T.FLOAT, ["batch", 49, k])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["batch", 49, n])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)


def main(out):
    rng = np.random.default_rng(0)
    for k in sorted({k for k, _ in SHAPES}):
        np.save(f"{out}/x_{k}.npy", rng.standard_normal((64, 49, k)).astype(np.float32))
    for k, n in SHAPES:
        w = (rng.standard_normal((k, n)) * k ** -0.5).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        ws = (np.abs(w).max(0) / 127).astype(np.float32)
        wq = np.clip(np.round(w / ws), -127, 127).astype(np.int8)
        tag = f"{k}x{n}"
        save(f"{out}/mm_fp32_{tag}.onnx", [h.make_node("MatMul", ["x", "w"], ["y0"]), h.make_node("Add", ["y0", "b"], ["y"])],
             [nh.from_array(w, "w"), nh.from_array(b, "b")], k, n)
        save(f"{out}/mm_dyn_{tag}.onnx", [
            h.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
            h.make_node("MatMulInteger", ["xq", "wq", "xz", "wz"], ["acc"]),
            h.make_node("Cast", ["acc"], ["accf"], to=T.FLOAT),
            h.make_node("Mul", ["xs", "ws"], ["s"]),
            h.make_node("Mul", ["accf", "s"], ["y0"]),
            h.make_node("Add", ["y0", "b"], ["y"])],
            [nh.from_array(wq, "wq"), nh.from_array(np.zeros(n, np.int8), "wz"), nh.from_array(ws, "ws"),
             nh.from_array(b, "b")], k, n)
        save(f"{out}/mm_qdq_{tag}.onnx", [
            h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
            h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
            h.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], axis=1),
            h.make_node("MatMul", ["xd", "wd"], ["y0"]), h.make_node("Add", ["y0", "b"], ["y"])],
            [nh.from_array(np.array(4.0 / 127, np.float32), "xs"), nh.from_array(np.array(0, np.int8), "xz"),
             nh.from_array(wq, "wq"), nh.from_array(np.zeros(n, np.int8), "wz"), nh.from_array(ws, "ws"),
             nh.from_array(b, "b")], k, n)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench_int8_matmul.py OUT_DIR")
    main(sys.argv[1])
