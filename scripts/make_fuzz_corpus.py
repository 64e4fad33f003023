#!/usr/bin/python3
"""Writes the generated seed inputs of the fuzz corpora (tests/fuzz/corpus/<target>/gen-*).

    /usr/bin/python3 scripts/make_fuzz_corpus.py [--compress build/compress]

Seeds are small real inputs: the shipped recipes and presets, .npy files of every supported dtype
(and a few rejected ones) in several shapes and header versions, the IR texts of the tests, model
descriptions and (with --compress) a tiny .mcm written by compress itself, and small QDQ ONNX
models. Files not named gen-* (regression inputs of fixed crashes) are left alone. Deterministic:
running it again rewrites the same bytes.
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fuzz" / "corpus"


def out_dir(target):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob("gen-*"):
        f.unlink()
    return d


def recipes():
    d = out_dir("recipe")
    for src in sorted((ROOT / "recipes").glob("*.yaml")) + sorted((ROOT / "configs").rglob("*.yaml")):
        name = src.relative_to(ROOT).as_posix().replace("/", "-")
        shutil.copy(src, d / f"gen-{name}")
    # --set overrides (leading "# --set" lines), an include, flow style, a typo.
    (d / "gen-sets.yaml").write_text(
        "# --set stages.0.train.epochs=1\n# --set data.train.limit=64\n"
        "include: fashion_mnist\nmodel: {zoo: lenet5}\nstages:\n  - train: {epochs: 3, lr: 0.1}\n")
    (d / "gen-typo.yaml").write_text(
        "model: {zoo: resnet8, input: {shape: [1, 1, 28, 28]}}\nstages:\n"
        "  - quantize: {bits: 8, observr: minmax}\n  - prune: {sparsity: 1.5}\n  - export: {path: m.onnx}\n")


def npy():
    d = out_dir("npy")
    rng = np.random.default_rng(0)
    arrays = {
        "f4-2x3": rng.standard_normal((2, 3)).astype("<f4"),
        "f8-4": rng.standard_normal(4),
        "f2-2x2x2": rng.standard_normal((2, 2, 2)).astype("<f2"),
        "i1-5": np.arange(-2, 3, dtype="i1"),
        "i2-3x1": np.arange(3, dtype="<i2").reshape(3, 1),
        "i4-0d": np.array(7, dtype="<i4"),
        "i8-1x1x1x3": np.arange(3, dtype="<i8").reshape(1, 1, 1, 3),
        "u1-2x3x4": np.arange(24, dtype="u1").reshape(2, 3, 4),
        "b1-4": np.array([True, False, True, True]),
        "f4-empty-0x3": np.zeros((0, 3), dtype="<f4"),
        "f4-fortran-3x2": np.asfortranarray(rng.standard_normal((3, 2)).astype("<f4")),
        "u2-rejected-2": np.arange(2, dtype="<u2"),
        "f4-bigendian-rejected-2": np.arange(2, dtype=">f4"),
        "c8-rejected-1": np.zeros(1, dtype="<c8"),
    }
    for name, a in arrays.items():
        np.save(d / f"gen-{name}.npy", a)
    # Format versions 2.0 and 3.0 (a 4-byte header length).
    for major in (2, 3):
        a = np.arange(6, dtype="<f4").reshape(2, 3)
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        header += " " * (64 - (12 + len(header) + 1) % 64) + "\n"
        raw = b"\x93NUMPY" + bytes([major, 0]) + len(header).to_bytes(4, "little") + header.encode() + a.tobytes()
        (d / f"gen-v{major}-f4-2x3.npy").write_bytes(raw)


def ir_texts():
    """Every raw-string IR text of the tests (R"(graph(...) ... })")."""
    texts = []
    patterns = [r'R"(?P<d>\w*)\((?P<t>graph\(.*?)\)(?P=d)"',  # R"(graph(...) {...})"
                r'std::string\("(?P<h>graph\([^"]*)"\)\s*\+\s*R"(?P<d>\w*)\((?P<t>.*?)\)(?P=d)"']  # header + body
    for src in sorted((ROOT / "tests").rglob("*_test.cpp")):
        code = src.read_text()
        for p in patterns:
            for m in re.finditer(p, code, re.S):
                t = (m.groupdict().get("h") or "").replace("\\n", "\n") + m.group("t")
                if "return(" in t and t not in texts:
                    texts.append(t)
    return texts


def ir_text():
    d = out_dir("ir_text")
    for i, t in enumerate(ir_texts()):
        (d / f"gen-test-{i:03d}.ir").write_text(t)


def mcm(compress):
    d = out_dir("mcm")
    # Model descriptions: IR text, "--- tensors", "NAME DTYPE DIMS" (tests/fuzz/fuzz_mcm.cpp).
    (d / "gen-linear.txt").write_text(
        'graph(%x: f32[1,4]) {\n  %w: f32[2,4] = param[name="fc.weight"]() @fc\n'
        '  %b: f32[2] = param[name="fc.bias"]() @fc\n  %y: f32[1,2] = linear(%x, %w, %b) @fc\n  return(%y)\n}\n'
        "--- tensors\nfc.weight f32 2,4\nfc.bias f32 2\n")
    (d / "gen-conv-bn.txt").write_text(
        'graph(%x: f32[1,1,4,4]) {\n  %w = param[name="c.weight"]() @c\n  %y = conv2d[padding=[1,1]](%x, %w) @c\n'
        '  %g = param[name="bn.weight"]() @bn\n  %be = param[name="bn.bias"]() @bn\n'
        '  %m = constant[name="bn.running_mean"]() @bn\n  %v = constant[name="bn.running_var"]() @bn\n'
        "  %z = batch_norm(%y, %g, %be, %m, %v) @bn\n  %r = relu(%z)\n  return(%r)\n}\n"
        "--- tensors\nc.weight f32 2,1,3,3\nbn.weight f32 2\nbn.bias f32 2\nbn.running_mean f32 2\n"
        "bn.running_var f32 2\n")
    (d / "gen-mismatch.txt").write_text(
        'graph(%x: f32[1,4]) {\n  %w = param[name="w"]()\n  %y = linear(%x, %w)\n  return(%y)\n}\n'
        "--- tensors\nw i64 3,5\n")
    for i, t in enumerate(ir_texts()[:8]):
        (d / f"gen-test-{i:03d}.txt").write_text(t)
    if not compress:
        print("no --compress: the .mcm archive seed is not regenerated", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        # A model small enough for a seed: Conv(1->2, 3x3) -> ReLU -> Linear(32 -> 3), traced by PyTorch.
        subprocess.run([sys.executable, "-c", f"""
import torch
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.fc = torch.nn.Linear(32, 3)
    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))
torch.manual_seed(0)
torch.jit.trace(M().eval(), torch.zeros(1, 1, 4, 4)).save('{tmp}/tiny.pt')
"""], check=True)
        (tmp / "r.yaml").write_text(
            "name: tiny\nmodel: {torchscript: tiny.pt, input: {shape: [1, 1, 4, 4]}}\n"
            "stages:\n  - save: {path: tiny.mcm}\nreport: {latency: false}\n")
        subprocess.run([compress, "--recipe", str(tmp / "r.yaml"), "--out", str(tmp / "run"), "-q"], check=True)
        shutil.copy(tmp / "run" / "tiny.mcm", d / "gen-tiny.mcm")


def qdq_conv_model(zero_point_type, per_channel, residual):
    """x -> Q -> DQ -> Conv(DQ(weight)) [-> Q -> DQ -> Add(itself)] -> y."""
    w = numpy_helper.from_array(np.arange(2 * 1 * 3 * 3, dtype=np.int8).reshape(2, 1, 3, 3), "w_q")
    ws = numpy_helper.from_array(np.array([0.1, 0.2] if per_channel else 0.1, dtype=np.float32), "w_scale")
    wz = numpy_helper.from_array(np.zeros(2 if per_channel else (), dtype=np.int8), "w_zp")
    s = numpy_helper.from_array(np.array(0.05, dtype=np.float32), "s")
    zp = numpy_helper.from_array(np.array(0, dtype=zero_point_type), "zp")
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"], name="q_x"),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wd"], name="dq_w", axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
    ]
    out = "c"
    if residual:
        nodes += [
            helper.make_node("QuantizeLinear", ["c", "s", "zp"], ["cq"], name="q_c"),
            helper.make_node("DequantizeLinear", ["cq", "s", "zp"], ["cd"], name="dq_c"),
            helper.make_node("MaxPool", ["cd"], ["p"], name="pool", kernel_shape=[1, 1]),
            helper.make_node("Add", ["p", "cd"], ["y"], name="add"),
        ]
        out = "y"
    g = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                          initializer=[w, ws, wz, s, zp])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_fuzz_corpus")


def onnx_trt():
    d = out_dir("onnx_trt")
    onnx.save(qdq_conv_model(np.int8, False, False), d / "gen-conv-int8.onnx")
    onnx.save(qdq_conv_model(np.int8, True, True), d / "gen-conv-perchannel-residual.onnx")
    onnx.save(qdq_conv_model(np.uint8, False, True), d / "gen-conv-uint8.onnx")
    # A float Gemm with transB (no Q/DQ: every node falls back).
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)], "fp32",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                          initializer=[numpy_helper.from_array(np.ones((2, 4), np.float32), "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), d / "gen-gemm-fp32.onnx")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compress", help="compress binary (writes the .mcm archive seed)")
    a = ap.parse_args()
    recipes()
    npy()
    ir_text()
    mcm(a.compress and str(pathlib.Path(a.compress).resolve()))
    onnx_trt()
    total = sum(f.stat().st_size for f in CORPUS.rglob("*") if f.is_file())
    print(f"corpus: {sum(1 for f in CORPUS.rglob('*') if f.is_file())} files, {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
