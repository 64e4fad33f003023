// batch_norm -> BatchNormalization (inference form: running statistics).
// layer_norm -> LayerNormalization at opset >= 17, else ReduceMean / Sub / Pow(2) / ReduceMean / Add /
// Sqrt / Div (and Mul, Add for the affine part): the pattern ORT's LayerNormFusion turns back into
// one LayerNormalization. It matches Pow only: with the square as Mul(d, d) the nine ops of each norm
// stayed separate passes over the activations (vit_tiny, batch 64, 2 threads: 9 norms were 81 ops).
#include <ATen/ATen.h>

#include "export/ops/ops.h"

namespace mc::exporter::ops {

namespace {

void batch_norm(const ir::Node& n, ExportContext& ctx) {
  std::vector<std::string> ins;
  for (size_t i = 0; i < 5; ++i) ins.push_back(ctx.in(n, i));
  // ONNX momentum weighs the running value (PyTorch's weighs the new one); only used in training.
  ctx.node("BatchNormalization", ins, {ctx.out(n)},
           {OnnxAttr::Float("epsilon", n.attrs().f("eps", 1e-5)),
            OnnxAttr::Float("momentum", 1.0 - n.attrs().f("momentum", 0.1))});
}

void layer_norm(const ir::Node& n, ExportContext& ctx) {
  const auto& ns = n.attrs().is("normalized_shape");
  const int64_t k = static_cast<int64_t>(ns.size());
  const double eps = n.attrs().f("eps", 1e-5);
  const ir::DType dt = ctx.in_dtype(n);
  const bool has_w = n.inputs().size() > 1, has_b = n.inputs().size() > 2;
  if (k == 0) unsupported(n, "layer_norm with an empty normalized_shape has no ONNX mapping");
  if (ctx.opset() >= 17) {
    std::string w = has_w ? ctx.in(n, 1) : std::string();
    if (!has_w) {
      at::Tensor ones = at::ones(ns, at::TensorOptions().dtype(dt == ir::DType::f64 ? at::kDouble
                                                               : dt == ir::DType::f16 ? at::kHalf : at::kFloat));
      w = ctx.add_tensor(ones, (n.scope().empty() ? n.op() : n.scope()) + "/ones");
    }
    std::vector<std::string> ins{ctx.in(n, 0), w};
    if (has_b) ins.push_back(ctx.in(n, 2));
    ctx.node("LayerNormalization", ins, {ctx.out(n)}, {OnnxAttr::Int("axis", -k), OnnxAttr::Float("epsilon", eps)});
    return;
  }
  std::vector<int64_t> axes;
  for (int64_t i = -k; i < 0; ++i) axes.push_back(i);
  const std::string x = ctx.in(n, 0);
  std::string mean = ctx.op1("ReduceMean", {x}, {OnnxAttr::Ints("axes", axes), OnnxAttr::Int("keepdims", 1)});
  std::string d = ctx.op1("Sub", {x, mean});
  std::string sq = ctx.op1("Pow", {d, ctx.scalar(2.0, dt, "two")});
  std::string var = ctx.op1("ReduceMean", {sq}, {OnnxAttr::Ints("axes", axes), OnnxAttr::Int("keepdims", 1)});
  std::string ve = ctx.op1("Add", {var, ctx.scalar(eps, dt, "eps")});
  std::string sd = ctx.op1("Sqrt", {ve});
  if (!has_w && !has_b) {
    ctx.node("Div", {d, sd}, {ctx.out(n)});
    return;
  }
  std::string y = ctx.op1("Div", {d, sd});
  if (has_w && !has_b) {
    ctx.node("Mul", {y, ctx.in(n, 1)}, {ctx.out(n)});
    return;
  }
  if (has_w) y = ctx.op1("Mul", {y, ctx.in(n, 1)});
  ctx.node("Add", {y, ctx.in(n, 2)}, {ctx.out(n)});
}

}  // namespace

void register_norm(ExportRegistry& r) {
  r.add("batch_norm", batch_norm);
  r.add("layer_norm", layer_norm);
}

}  // namespace mc::exporter::ops
