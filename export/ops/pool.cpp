// Pooling and reductions:
//   max_pool2d -> MaxPool, avg_pool2d -> AveragePool (pads, count_include_pad; PyTorch's ceil_mode
//   becomes extra end padding, see pool_geometry);
//   adaptive_avg_pool2d -> GlobalAveragePool for 1x1, else AveragePool when the input size is a
//   multiple of the output size (kernel = stride = in / out), else exactly at any sizes (larger or
//   smaller output, as PyTorch: window i of an axis of size H pooled to h is [floor(i*H/h),
//   ceil((i+1)*H/h))): one Slice + ReduceMean / ReduceMax(keepdims) per output column, a Concat,
//   then the same per output row; an axis whose size does not change is left alone. (Not MatMuls
//   with averaging matrices: check_tensorrt would list them as float compute nodes of a QDQ model.)
//   adaptive_max_pool2d likewise with GlobalMaxPool / MaxPool. mean -> ReduceMean(axes, keepdims), the
//   axes an input from opset 18.
// A 3-d (C, H, W) input is pooled as a batch of one (Unsqueeze, pool, Squeeze).
#include <algorithm>

#include "export/ops/ops.h"

namespace mc::exporter::ops {

namespace {

std::vector<int64_t> pool_pair(const ir::Node& n, const std::string& key, const std::vector<int64_t>& dflt) {
  std::vector<int64_t> v = n.attrs().is(key, dflt);
  if (v.empty()) v = dflt;  // PyTorch: stride=[] means stride = kernel
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) unsupported(n, "attribute '" + key + "' must have 2 values");
  return v;
}

void emit_pool(const ir::Node& n, ExportContext& ctx, const std::string& op_type, const std::vector<OnnxAttr>& attrs) {
  const int64_t rank = ctx.in_rank(n);
  if (rank == 4) {
    ctx.node(op_type, {ctx.in(n, 0)}, {ctx.out(n)}, attrs);
    return;
  }
  if (rank != 3) unsupported(n, "pooling wants a 3-d or 4-d input, got " + ir::shape_str(ctx.in_shape(n)));
  std::string axes = ctx.const_i64({0}, "axes");
  std::string x = ctx.op1("Unsqueeze", {ctx.in(n, 0), axes});
  std::string y = ctx.op1(op_type, {x}, attrs);
  ctx.node("Squeeze", {y, axes}, {ctx.out(n)});
}

// Output size of PyTorch's pooling along one dim: ceil mode drops a last window that would start
// in the right padding.
int64_t torch_pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  int64_t num = in + 2 * p - d * (k - 1) - 1;
  int64_t o = (ceil ? (num + s - 1) / s : num / s) + 1;
  if (ceil && (o - 1) * s >= in + p) --o;
  return o;
}

struct PoolGeometry {
  std::vector<int64_t> pads;  // ONNX order: [h_begin, w_begin, h_end, w_end]
  bool ceil_mode = false;
};

// PyTorch's ceil_mode as ONNX pads. ONNX's ceil_mode output size (as ONNX's shape inference
// computes it) differs from PyTorch's where PyTorch drops the last window, so ceil_mode is
// expressed as extra end padding instead: padded cells are ignored by MaxPool and by AveragePool
// without count_include_pad. With count_include_pad the extra cells would be counted, so there
// ceil_mode=1 is kept where both agree (ORT clips the divisor as PyTorch does), else floor mode
// where PyTorch's size is the floor size, else an error.
PoolGeometry pool_geometry(const ir::Node& n, ExportContext& ctx, const std::vector<int64_t>& k,
                           const std::vector<int64_t>& s, const std::vector<int64_t>& p, const std::vector<int64_t>& d,
                           bool counts_padding) {
  PoolGeometry g;
  g.pads = {p[0], p[1], p[0], p[1]};
  if (!n.attrs().i("ceil_mode", 0)) return g;
  const ir::Shape& in = ctx.in_shape(n);
  if (in.size() < 2) unsupported(n, "pooling wants a 3-d or 4-d input, got " + ir::shape_str(in));
  bool all_floor = true, all_ceil = true;
  std::vector<int64_t> extra(2, 0);
  for (size_t i = 0; i < 2; ++i) {
    const int64_t size = in[in.size() - 2 + i];
    const int64_t o = torch_pool_out(size, k[i], s[i], p[i], d[i], true);
    const int64_t num = size + 2 * p[i] - d[i] * (k[i] - 1) - 1;
    all_floor = all_floor && o == num / s[i] + 1;
    all_ceil = all_ceil && o == (num + s[i] - 1) / s[i] + 1;
    extra[i] = std::max<int64_t>(0, (o - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (size + 2 * p[i]));
  }
  if (!counts_padding || all_floor) {
    g.pads[2] += extra[0];
    g.pads[3] += extra[1];
    return g;
  }
  if (all_ceil) {
    g.ceil_mode = true;
    return g;
  }
  unsupported(n, "avg_pool2d with ceil_mode and count_include_pad on input " + ir::shape_str(in) +
                     " has no exact ONNX mapping (the last window is dropped along one dim only)");
}

void max_pool2d(const ir::Node& n, ExportContext& ctx) {
  auto k = pool_pair(n, "kernel", {});
  auto s = pool_pair(n, "stride", k), p = pool_pair(n, "padding", {0, 0}), d = pool_pair(n, "dilation", {1, 1});
  PoolGeometry g = pool_geometry(n, ctx, k, s, p, d, false);
  std::vector<OnnxAttr> attrs{OnnxAttr::Ints("kernel_shape", k), OnnxAttr::Ints("strides", s), OnnxAttr::Ints("pads", g.pads)};
  if (d[0] != 1 || d[1] != 1) attrs.push_back(OnnxAttr::Ints("dilations", d));
  if (g.ceil_mode) attrs.push_back(OnnxAttr::Int("ceil_mode", 1));
  emit_pool(n, ctx, "MaxPool", attrs);
}

void avg_pool2d(const ir::Node& n, ExportContext& ctx) {
  auto k = pool_pair(n, "kernel", {});
  auto s = pool_pair(n, "stride", k), p = pool_pair(n, "padding", {0, 0});
  // PyTorch counts padding by default, ONNX does not. Without padding there is nothing to count
  // (PyTorch's ceil-mode windows are clipped to the input then).
  const bool counts_padding = n.attrs().i("count_include_pad", 1) && (p[0] != 0 || p[1] != 0);
  PoolGeometry g = pool_geometry(n, ctx, k, s, p, {1, 1}, counts_padding);
  std::vector<OnnxAttr> attrs{OnnxAttr::Ints("kernel_shape", k), OnnxAttr::Ints("strides", s), OnnxAttr::Ints("pads", g.pads)};
  if (g.ceil_mode) attrs.push_back(OnnxAttr::Int("ceil_mode", 1));
  if (counts_padding) attrs.push_back(OnnxAttr::Int("count_include_pad", 1));
  emit_pool(n, ctx, "AveragePool", attrs);
}

// PyTorch's adaptive pooling window i of an axis of size `in` pooled to `out`.
std::pair<int64_t, int64_t> adaptive_window(int64_t i, int64_t in, int64_t out) {
  return {(i * in) / out, ((i + 1) * in + out - 1) / out};
}

// Pools each window of `axis` (PyTorch's adaptive windows): Slice + `reduce` (ReduceMean /
// ReduceMax, keepdims) per output position, then Concat; a window of one entry is the Slice alone.
std::string adaptive_axis(ExportContext& ctx, const std::string& reduce, const std::string& x, int64_t axis,
                          int64_t in, int64_t out, const std::string& result) {
  std::vector<std::string> parts;
  const std::string axes = ctx.const_i64({axis}, "axes");
  for (int64_t i = 0; i < out; ++i) {
    auto [s, e] = adaptive_window(i, in, out);
    std::string part = ctx.op1("Slice", {x, ctx.const_i64({s}, "starts"), ctx.const_i64({e}, "ends"), axes});
    std::vector<OnnxAttr> attrs{OnnxAttr::Int("keepdims", 1)};
    std::vector<std::string> ins{part};
    if (ctx.opset() >= 18) ins.push_back(axes);  // ReduceMean-18 / ReduceMax-18: axes an input
    else attrs.push_back(OnnxAttr::Ints("axes", {axis}));
    parts.push_back(e - s == 1 ? part : ctx.op1(reduce, ins, attrs));
  }
  if (result.empty()) return ctx.op1("Concat", parts, {OnnxAttr::Int("axis", axis)});
  ctx.node("Concat", parts, {result}, {OnnxAttr::Int("axis", axis)});
  return result;
}

// Adaptive pooling at any sizes: the last axis, then the one before (a mean / max over a
// rectangle is the mean / max over its rows of the mean / max over its columns, the rows all of
// one length); an axis that keeps its size is left alone.
void adaptive_windows(const ir::Node& n, ExportContext& ctx, const std::string& reduce, int64_t H, int64_t W,
                      int64_t h, int64_t w) {
  const int64_t rank = ctx.in_rank(n);
  std::string x = ctx.in(n, 0);
  if (W != w) x = adaptive_axis(ctx, reduce, x, rank - 1, W, w, H != h ? "" : ctx.out(n));
  if (H != h) adaptive_axis(ctx, reduce, x, rank - 2, H, h, ctx.out(n));
}

ExportFn adaptive(const std::string& global_op, const std::string& window_op) {
  return [global_op, window_op](const ir::Node& n, ExportContext& ctx) {
    auto os = pool_pair(n, "output_size", {});
    const ir::Shape& in = ctx.in_shape(n);
    if (in.size() < 3) unsupported(n, "pooling wants a 3-d or 4-d input, got " + ir::shape_str(in));
    const int64_t h = in[in.size() - 2], w = in[in.size() - 1];
    if (os[0] == 1 && os[1] == 1) {
      emit_pool(n, ctx, global_op, {});
      return;
    }
    if (os[0] <= 0 || os[1] <= 0) unsupported(n, "adaptive pooling to an empty output " + ir::shape_str(os));
    if (h % os[0] != 0 || w % os[1] != 0) {
      adaptive_windows(n, ctx, window_op == "AveragePool" ? "ReduceMean" : "ReduceMax", h, w, os[0], os[1]);
      return;
    }
    std::vector<int64_t> k{h / os[0], w / os[1]};
    if (k[0] == 1 && k[1] == 1) {
      ctx.alias(n, 0, ctx.in(n, 0));
      return;
    }
    emit_pool(n, ctx, window_op, {OnnxAttr::Ints("kernel_shape", k), OnnxAttr::Ints("strides", k)});
  };
}

void mean(const ir::Node& n, ExportContext& ctx) {
  const int64_t rank = ctx.in_rank(n);
  std::vector<int64_t> axes;
  for (int64_t d : n.attrs().is("dims")) axes.push_back(ctx.wrap_dim(d, rank));
  std::vector<OnnxAttr> attrs{OnnxAttr::Int("keepdims", n.attrs().i("keepdim", 0) ? 1 : 0)};
  std::vector<std::string> ins{ctx.in(n, 0)};
  // ReduceMean-18 takes the axes as an optional input instead of an attribute; without them (and
  // noop_with_empty_axes = 0, the default) it reduces every axis, as before.
  if (!axes.empty() && ctx.opset() >= 18) ins.push_back(ctx.const_i64(axes, "axes"));
  else if (!axes.empty()) attrs.push_back(OnnxAttr::Ints("axes", axes));
  ctx.node("ReduceMean", ins, {ctx.out(n)}, attrs);
}

}  // namespace

void register_pool(ExportRegistry& r) {
  r.add("max_pool2d", max_pool2d);
  r.add("avg_pool2d", avg_pool2d);
  r.add("adaptive_avg_pool2d", adaptive("GlobalAveragePool", "AveragePool"));
  r.add("adaptive_max_pool2d", adaptive("GlobalMaxPool", "MaxPool"));
  r.add("mean", mean);
}

}  // namespace mc::exporter::ops
