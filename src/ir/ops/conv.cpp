// conv2d and pad.
//   conv2d[stride=[sh,sw], padding=[ph,pw], dilation=[dh,dw], groups=g](x, w, b?)
//     x: N x Cin x H x W, w: Cout x Cin/g x kh x kw, b: Cout. Zero padding (other padding modes
//     are an explicit `pad` before the conv).
//   pad[pads=[left,right,top,bottom], mode="constant"|"reflect"|"replicate"|"circular", value=0.0](x)
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

namespace {
std::vector<int64_t> pair_attr(const Node& n, const char* k, int64_t dflt) {
  auto v = n.attrs().is(k, {dflt, dflt});
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) throw Error(n.describe() + ": attribute '" + k + "' must have 2 values");
  return v;
}

int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }
}  // namespace

void register_conv_ops(OpRegistry& r) {
  OpDef c;
  c.name = "conv2d";
  c.min_inputs = 2;
  c.max_inputs = 3;
  c.optional_attrs = {"stride", "padding", "dilation", "groups"};
  c.shape = [](const Node& n, const std::vector<TensorType>& in) {
    const auto& x = in[0].shape;
    const auto& w = in[1].shape;
    if (x.size() != 4 || w.size() != 4)
      throw Error("conv2d wants a 4-d input and weight, got " + shape_str(x) + " and " + shape_str(w));
    int64_t g = n.attrs().i("groups", 1);
    if (x[1] != w[1] * g)
      throw Error("input has " + std::to_string(x[1]) + " channels, weight expects " + std::to_string(w[1] * g) +
                  " (" + std::to_string(w[1]) + " x groups " + std::to_string(g) + ")");
    if (in.size() > 2 && (in[2].shape.size() != 1 || in[2].shape[0] != w[0]))
      throw Error("bias shape " + shape_str(in[2].shape) + " does not match " + std::to_string(w[0]) + " output channels");
    auto s = pair_attr(n, "stride", 1), p = pair_attr(n, "padding", 0), d = pair_attr(n, "dilation", 1);
    Shape out{x[0], w[0], conv_out(x[2], w[2], s[0], p[0], d[0]), conv_out(x[3], w[3], s[1], p[1], d[1])};
    if (out[2] <= 0 || out[3] <= 0) throw Error("output would be empty: input " + shape_str(x) + " too small for kernel");
    return std::vector<TensorType>{TensorType(in[0].dtype, out)};
  };
  c.kernel = [](const Node& n, const std::vector<at::Tensor>& in, const KernelContext&) {
    at::Tensor b = in.size() > 2 ? in[2] : at::Tensor();
    return std::vector<at::Tensor>{at::conv2d(in[0], in[1], b, pair_attr(n, "stride", 1), pair_attr(n, "padding", 0),
                                              pair_attr(n, "dilation", 1), n.attrs().i("groups", 1))};
  };
  c.macs = [](const Node&, const std::vector<TensorType>& in, const std::vector<TensorType>& out) {
    const auto& w = in[1].shape;
    return out[0].numel() * w[1] * w[2] * w[3];
  };
  c.doc = "2-d convolution (zero padding; groups; dilation)";
  r.add(std::move(c));

  OpDef p;
  p.name = "pad";
  p.min_inputs = p.max_inputs = 1;
  p.required_attrs = {"pads"};
  p.optional_attrs = {"mode", "value"};
  p.kernel = [](const Node& n, const std::vector<at::Tensor>& in, const KernelContext&) {
    const auto& pads = n.attrs().is("pads");
    std::string mode = n.attrs().s("mode", "constant");
    if (mode == "constant") return std::vector<at::Tensor>{at::constant_pad_nd(in[0], pads, n.attrs().f("value", 0.0))};
    if (mode == "reflect") return std::vector<at::Tensor>{at::reflection_pad2d(in[0], pads)};
    if (mode == "replicate") return std::vector<at::Tensor>{at::replication_pad2d(in[0], pads)};
    if (mode == "circular") return std::vector<at::Tensor>{at::_pad_circular(in[0], pads)};
    throw Error(n.describe() + ": unknown pad mode '" + mode + "' (constant, reflect, replicate, circular)");
  };
  p.shape = [](const Node& n, const std::vector<TensorType>& in) {
    const auto& pads = n.attrs().is("pads");
    Shape s = in[0].shape;
    if (pads.size() % 2 || pads.size() / 2 > s.size()) throw Error("pads must be pairs for the trailing dims");
    for (size_t i = 0; i < pads.size() / 2; ++i) s[s.size() - 1 - i] += pads[2 * i] + pads[2 * i + 1];
    return std::vector<TensorType>{TensorType(in[0].dtype, s)};
  };
  p.doc = "padding of the trailing dims (at::pad order: last dim first)";
  r.add(std::move(p));
}

}  // namespace mc::ir::ops
