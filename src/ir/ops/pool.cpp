// Pooling and reductions:
//   max_pool2d[kernel, stride, padding, dilation, ceil_mode], avg_pool2d[kernel, stride, padding,
//   ceil_mode, count_include_pad], adaptive_avg_pool2d[output_size], adaptive_max_pool2d[output_size],
//   mean[dims, keepdim].
//
// Quantized global average pool (quantization/insert_qdq.cpp builds it where a fake_quant feeds
// the pool and the same quantizer quantizes its output):
//   adaptive_avg_pool2d[output_size=[1,1], quant_min, quant_max, grad_factor=1](x, scale, zero_point)
//   computes what ONNX Runtime runs for DequantizeLinear -> GlobalAveragePool -> QuantizeLinear
//   with one scale s and zero point z (its QLinearGlobalAveragePool, MLAS):
//     k   = round(x / s)                        x's integers minus z (x is on the grid)
//     acc = sum of k over H x W                 exact integer sum
//     m   = s / (s * float(H W))                float32, as MLAS computes the multiplier
//     q   = clamp(round_half_even(float(acc) * m) + z, quant_min, quant_max)
//     y   = (q - z) * s
//   A float mean followed by fake_quant rounds differently where the mean is a tie or within
//   float error of one (acc / N = k + 1/2 is exact for even N; the float mean is not).
//   Gradients: those of the float mean (straight-through); when scale requires grad (LSQ), the
//   output quantizer's step-size gradient grad_factor * (y - mean) / s as ATen's learnable
//   fake-quantize gives it (the fake_quant after the pool sees values already on the grid).
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

namespace {
using In = const std::vector<at::Tensor>&;
using K = const KernelContext&;

std::vector<int64_t> pair(const Node& n, const char* k, std::vector<int64_t> dflt) {
  auto v = n.attrs().is(k, dflt);
  if (v.size() == 1) v.push_back(v[0]);
  return v;
}

void check_quantized_pool(const Node& n, const std::vector<TensorType>& in) {
  if (in.size() == 1) return;
  if (in.size() != 3) throw Error(n.op() + " takes 1 input, or 3 (x, scale, zero_point) when quantized");
  auto os = pair(n, "output_size", {});
  if (os.size() != 2 || os[0] != 1 || os[1] != 1)
    throw Error(n.op() + " with scale and zero_point is the quantized global average pool: output_size must be [1, 1]");
  if (!n.attrs().has("quant_min") || !n.attrs().has("quant_max"))
    throw Error(n.op() + " with scale and zero_point needs the grid's quant_min and quant_max attributes");
  for (size_t i = 1; i < 3; ++i)
    if (in[i].numel() != 1)
      throw Error(n.op() + (i == 1 ? " scale" : " zero_point") + " must hold one element (per tensor), got " + shape_str(in[i].shape));
  if (in[1].dtype != DType::f32) throw Error(n.op() + " scale must be f32");
}

// The integer global average pool of the header, with straight-through gradients.
at::Tensor quantized_global_average(const Node& n, In in) {
  const at::Tensor& x = in[0];
  const int64_t qmin = n.attrs().i("quant_min"), qmax = n.attrs().i("quant_max");
  const float s = in[1].detach().reshape({}).item<float>();
  const double z = std::nearbyint(in[2].detach().reshape({}).to(at::kDouble).item<double>());
  const int64_t count = x.size(-1) * x.size(-2);
  at::Tensor mean = at::adaptive_avg_pool2d(x, {1, 1});
  if (count == 0 || x.is_meta()) return mean;
  at::Tensor k = at::clamp(at::round(x.detach().to(at::kDouble) / s) + z, qmin, qmax) - z;
  at::Tensor acc = k.sum({-2, -1}, /*keepdim=*/true).to(at::kFloat);  // exact integers in double
  const float mult = s / (s * static_cast<float>(count));  // float32 arithmetic, as MLAS
  at::Tensor q = at::clamp(at::round(acc * at::scalar_tensor(mult, at::kFloat)) + z, qmin, qmax);
  at::Tensor yq = (q - z) * at::scalar_tensor(s, at::kFloat);
  if (!at::GradMode::is_enabled() || !(x.requires_grad() || in[1].requires_grad())) return yq;
  // (mean + (yq - mean) is yq up to float rounding; the fake_quant after the pool snaps it back.)
  at::Tensor y = mean + (yq - mean).detach();
  if (in[1].requires_grad()) {
    const at::Tensor& scale = in[1];
    const double gf = n.attrs().f("grad_factor", 1.0);
    y = y + (scale - scale.detach()).reshape({}) * ((yq - mean.detach()) / s * gf).detach();
  }
  return y;
}

void add_pool(OpRegistry& r, const std::string& name, std::vector<std::string> req, std::vector<std::string> opt,
              KernelFn k, MacsFn macs, std::string doc, int max_inputs = 1) {
  OpDef d;
  d.name = name;
  d.min_inputs = 1;
  d.max_inputs = max_inputs;
  d.required_attrs = std::move(req);
  d.optional_attrs = std::move(opt);
  d.kernel = k;
  d.shape = [k](const Node& n, const std::vector<TensorType>& in) {
    if (n.op() != "mean" && in[0].rank() != 4 && in[0].rank() != 3)
      throw Error(n.op() + " wants a 3-d or 4-d input, got " + shape_str(in[0].shape));
    check_quantized_pool(n, in);
    if (n.op().rfind("adaptive_", 0) == 0) {  // no meta kernel in LibTorch 1.13
      auto os = pair(n, "output_size", {});
      Shape s = in[0].shape;
      s[s.size() - 2] = os[0];
      s[s.size() - 1] = os[1];
      return std::vector<TensorType>{TensorType(in[0].dtype, s)};
    }
    return meta_shapes(n, in, k);
  };
  d.macs = std::move(macs);
  d.doc = std::move(doc);
  r.add(std::move(d));
}

// One add (or compare) per input element read by the window: output elements x window size.
int64_t window_macs(const Node& n, const std::vector<TensorType>&, const std::vector<TensorType>& out) {
  auto k = pair(n, "kernel", {1, 1});
  return out[0].numel() * k[0] * k[1];
}
int64_t input_macs(const Node&, const std::vector<TensorType>& in, const std::vector<TensorType>&) { return in[0].numel(); }
}  // namespace

void register_pool_ops(OpRegistry& r) {
  add_pool(r, "max_pool2d", {"kernel"}, {"stride", "padding", "dilation", "ceil_mode"}, [](const Node& n, In in, K) {
    auto k = pair(n, "kernel", {});
    return std::vector<at::Tensor>{at::max_pool2d(in[0], k, pair(n, "stride", k), pair(n, "padding", {0, 0}),
                                                  pair(n, "dilation", {1, 1}), n.attrs().i("ceil_mode", 0) != 0)};
  }, window_macs, "2-d max pooling");
  add_pool(r, "avg_pool2d", {"kernel"}, {"stride", "padding", "ceil_mode", "count_include_pad"}, [](const Node& n, In in, K) {
    auto k = pair(n, "kernel", {});
    return std::vector<at::Tensor>{at::avg_pool2d(in[0], k, pair(n, "stride", k), pair(n, "padding", {0, 0}),
                                                  n.attrs().i("ceil_mode", 0) != 0, n.attrs().i("count_include_pad", 1) != 0)};
  }, window_macs, "2-d average pooling");
  add_pool(r, "adaptive_avg_pool2d", {"output_size"}, {"quant_min", "quant_max", "grad_factor"}, [](const Node& n, In in, K) {
    if (in.size() == 3) return std::vector<at::Tensor>{quantized_global_average(n, in)};
    return std::vector<at::Tensor>{at::adaptive_avg_pool2d(in[0], pair(n, "output_size", {}))};
  }, input_macs, "adaptive average pooling to output_size; with (scale, zero_point): the integer global average of "
     "ONNX Runtime's QLinearGlobalAveragePool on that grid", 3);
  add_pool(r, "adaptive_max_pool2d", {"output_size"}, {}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{std::get<0>(at::adaptive_max_pool2d(in[0], pair(n, "output_size", {})))};
  }, input_macs, "adaptive max pooling to output_size");
  add_pool(r, "mean", {"dims"}, {"keepdim"}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{at::mean(in[0], n.attrs().is("dims"), n.attrs().i("keepdim", 0) != 0)};
  }, input_macs, "mean over dims");
}

}  // namespace mc::ir::ops
