// conv2d -> Conv (a weight with few distinct values as a codebook: export/codebook_weights.h); pad -> Pad (constant, reflect, replicate -> edge;
// circular -> wrap from opset 19, where Pad gained that mode) or, for circular padding below opset 19, Slice + Concat per padded dim.
#include <limits>

#include "common/error.h"
#include "export/codebook_weights.h"
#include "export/ops/ops.h"

namespace mc::exporter::ops {

namespace {

void conv2d(const ir::Node& n, ExportContext& ctx) {
  const ir::Shape& w = ctx.in_shape(n, 1);
  if (w.size() != 4) unsupported(n, "conv2d weight must be 4-d, got " + ir::shape_str(w));
  auto s = pair_attr(n, "stride", {1, 1}), p = pair_attr(n, "padding", {0, 0}), d = pair_attr(n, "dilation", {1, 1});
  std::vector<std::string> ins{ctx.in(n, 0), weight_input(n, 1, ctx)};
  if (n.inputs().size() > 2) ins.push_back(ctx.in(n, 2));
  ctx.node("Conv", ins, {ctx.out(n)},
           {OnnxAttr::Ints("kernel_shape", {w[2], w[3]}), OnnxAttr::Ints("strides", s),
            OnnxAttr::Ints("pads", {p[0], p[1], p[0], p[1]}), OnnxAttr::Ints("dilations", d),
            OnnxAttr::Int("group", n.attrs().i("groups", 1))});
}

void pad(const ir::Node& n, ExportContext& ctx) {
  const auto& pads = n.attrs().is("pads");
  const int64_t rank = ctx.in_rank(n);
  if (pads.size() % 2 != 0 || static_cast<int64_t>(pads.size() / 2) > rank)
    unsupported(n, "pads " + ir::shape_str(pads) + " must be (begin, end) pairs for at most " + std::to_string(rank) + " dims");
  // at::pad order (last dim first, begin/end pairs) -> ONNX [x1_begin, ..., xn_begin, x1_end, ..., xn_end].
  std::vector<int64_t> begin(static_cast<size_t>(rank), 0), end(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    size_t dim = static_cast<size_t>(rank) - 1 - i;
    begin[dim] = pads[2 * i];
    end[dim] = pads[2 * i + 1];
  }
  const std::string mode = n.attrs().s("mode", "constant");
  bool negative = false;
  for (int64_t d = 0; d < rank; ++d) negative = negative || begin[d] < 0 || end[d] < 0;
  if (mode == "circular" && ctx.opset() < 19) {
    std::string x = ctx.in(n, 0);
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < rank; ++d)
      if (begin[d] != 0 || end[d] != 0) dims.push_back(d);
    if (dims.empty()) {
      ctx.alias(n, 0, x);
      return;
    }
    const int64_t kMax = std::numeric_limits<int64_t>::max();
    for (size_t k = 0; k < dims.size(); ++k) {
      int64_t d = dims[k];
      if (begin[d] < 0 || end[d] < 0) unsupported(n, "negative circular padding has no ONNX mapping");
      std::string axes = ctx.const_i64({d}, "axes");
      std::vector<std::string> parts;
      if (begin[d] > 0)
        parts.push_back(ctx.op1("Slice", {x, ctx.const_i64({-begin[d]}, "starts"), ctx.const_i64({kMax}, "ends"), axes}));
      parts.push_back(x);
      if (end[d] > 0)
        parts.push_back(ctx.op1("Slice", {x, ctx.const_i64({0}, "starts"), ctx.const_i64({end[d]}, "ends"), axes}));
      std::string y = k + 1 == dims.size() ? ctx.out(n) : ctx.tmp("Concat");
      ctx.node("Concat", parts, {y}, {OnnxAttr::Int("axis", d)});
      x = y;
    }
    return;
  }
  std::string onnx_mode;
  if (mode == "constant") onnx_mode = "constant";
  else if (mode == "reflect") onnx_mode = "reflect";
  else if (mode == "replicate") onnx_mode = "edge";
  else if (mode == "circular" && negative) unsupported(n, "negative circular padding has no ONNX mapping");
  else if (mode == "circular") onnx_mode = "wrap";  // Pad-19
  else unsupported(n, "pad mode '" + mode + "' has no ONNX mapping (constant, reflect, replicate, circular)");
  std::vector<int64_t> onnx_pads = begin;
  onnx_pads.insert(onnx_pads.end(), end.begin(), end.end());
  std::vector<std::string> ins{ctx.in(n, 0), ctx.const_i64(onnx_pads, "pads")};
  double value = n.attrs().f("value", 0.0);
  if (mode == "constant" && value != 0.0) ins.push_back(ctx.scalar(value, ctx.in_dtype(n), "value"));
  ctx.node("Pad", ins, {ctx.out(n)}, {OnnxAttr::Str("mode", onnx_mode)});
}

}  // namespace

void register_conv(ExportRegistry& r) {
  r.add("conv2d", conv2d);
  r.add("pad", pad);
}

}  // namespace mc::exporter::ops
