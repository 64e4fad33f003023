// Quantization ops (the IR's one representation of quantization, for PTQ, QAT and export):
//   fake_quant[quant_min, quant_max, axis=-1, grad_factor=1.0](x, scale, zero_point)
//     y = (clamp(round(x / scale) + zero_point, quant_min, quant_max) - zero_point) * scale
//     Per-tensor when axis = -1 (scale and zero_point hold one element: shape [] or [1]);
//     per-channel along `axis` otherwise (scale and zero_point of shape [x.shape[axis]]).
//     scale is f32; zero_point is an integer-valued tensor (any dtype; rounded). The integer grid
//     [quant_min, quant_max] gives the bit-width: [-128, 127] is int8, [-8, 7] int4, [0, 255] uint8.
//     Gradients: straight-through for x inside the clamp range, zero outside (ATen's fake-quantize
//     kernels). When scale requires grad (a `param`), scale and zero_point are learned with the
//     LSQ gradient of ATen's learnable fake-quantize, scaled by grad_factor.
//   Export: weights become integer initializers + DequantizeLinear, activations QuantizeLinear ->
//   DequantizeLinear (export/ops/quant.cpp).
//   dynamic_quant(x)
//     Run-time (dynamic) uint8 quantize-dequantize with ONNX's DynamicQuantizeLinear rule, over the
//     whole tensor: lo = min(0, min x), hi = max(0, max x), scale = (hi - lo) / 255 in float32 (1 when
//     hi == lo), zero_point = round_half_even(clamp(-lo / scale, 0, 255)),
//     q = clamp(round_half_even(x / scale) + zero_point, 0, 255), y = (q - zero_point) * scale.
//     The qparams depend on the batch (as in ONNX Runtime). Gradient straight-through.
//   Export: DynamicQuantizeLinear -> DequantizeLinear; a linear/matmul reading it with an int8
//   weight becomes MatMulInteger (export/dynamic_int8.cpp).
//
// Quantization-aware training only (quantization/qat.h converts them to fake_quant / plain conv
// at the end of training, so export never sees them):
//   binary_quant[axis=0](w)                 BWN/XNOR-Net: sign(w) * mean|w| per channel along
//     `axis`, sign(0) = +1 (so every weight is +-alpha). Gradient straight-through (identity).
//   ternary_quant[axis=0, threshold=0.7](w) TWN: delta = threshold * mean|w| per channel; weights
//     with |w| > delta become sign(w) * alpha, the others 0, alpha = mean of |w| over |w| > delta
//     (0 for an all-zero channel). Gradient straight-through (identity).
//   bn_fold_weight[eps=1e-5](w, gamma, running_var)
//     w * gamma / sqrt(running_var + eps) per output channel (dim 0): the BatchNorm-folded weight
//     that QAT fake-quantizes (torch.ao.nn.intrinsic.qat.ConvBn2d).
//   bn_qat[eps=1e-5, momentum=0.1, frozen=0](y, gamma, beta, running_mean, running_var, bias?)
//     The rest of torch.ao's ConvBn2d forward: y is conv(x, fake_quant(bn_fold_weight(w))) without
//     bias; returns batch_norm(y / s + bias, ...) with s = gamma / sqrt(running_var + eps) per
//     channel (dim 1). In training mode the batch statistics normalise and the running statistics
//     update, unless frozen = 1 (then the running statistics are used and stay fixed). In eval
//     mode it equals conv(x, fake_quant(w * s)) + (bias - running_mean) * s + beta: the folded conv.
#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

namespace {

int64_t qparam_count(const TensorType& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
}

// Shape [1, .., C, .., 1] of rank `rank` with C at `axis`, to broadcast a per-channel vector.
std::vector<int64_t> channel_shape(int64_t rank, int64_t axis) {
  std::vector<int64_t> s(static_cast<size_t>(rank), 1);
  s[static_cast<size_t>(axis)] = -1;
  return s;
}

// |w| averaged over every dim but `axis` (keeps dims for broadcasting).
std::vector<int64_t> other_dims(int64_t rank, int64_t axis) {
  std::vector<int64_t> d;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis) d.push_back(i);
  return d;
}

// y = q in the forward pass, d y / d w = 1 in the backward pass.
at::Tensor straight_through(const at::Tensor& w, const at::Tensor& q) { return w + (q - w).detach(); }

int64_t weight_axis(const Node& n, const TensorType& w) {
  int64_t axis = n.attrs().i("axis", 0);
  int64_t rank = static_cast<int64_t>(w.shape.size());
  if (axis < 0 || axis >= rank)
    throw Error(n.op() + " axis " + std::to_string(axis) + " is out of range for weight " + shape_str(w.shape));
  return axis;
}

void check_channel_vectors(const std::vector<TensorType>& in, size_t first, size_t last, int64_t c, const char* op) {
  for (size_t i = first; i < last && i < in.size(); ++i)
    if (in[i].shape != Shape{c})
      throw Error(std::string(op) + " input " + std::to_string(i) + " has shape " + shape_str(in[i].shape) +
                  ", expected [" + std::to_string(c) + "]");
}

void register_qat_ops(OpRegistry& r) {
  for (const char* name : {"binary_quant", "ternary_quant"}) {
    const bool ternary = std::string(name) == "ternary_quant";
    OpDef d;
    d.name = name;
    d.min_inputs = d.max_inputs = 1;
    d.optional_attrs = ternary ? std::vector<std::string>{"axis", "threshold"} : std::vector<std::string>{"axis"};
    d.shape = [](const Node& n, const std::vector<TensorType>& in) {
      weight_axis(n, in[0]);
      if (in[0].dtype != DType::f32) throw Error(n.op() + " input must be f32");
      return std::vector<TensorType>{in[0]};
    };
    d.kernel = [ternary](const Node& n, const std::vector<at::Tensor>& in, const KernelContext&) {
      const at::Tensor& w = in[0];
      const int64_t axis = n.attrs().i("axis", 0);
      const auto dims = other_dims(w.dim(), axis);
      at::Tensor a = w.detach().abs();
      at::Tensor q;
      if (!ternary) {
        at::Tensor alpha = dims.empty() ? a : a.mean(dims, /*keepdim=*/true);
        q = at::where(w.detach() >= 0, alpha, -alpha);
      } else {
        const double t = n.attrs().f("threshold", 0.7);
        at::Tensor delta = (dims.empty() ? a : a.mean(dims, true)) * t;
        at::Tensor keep = (a > delta).to(a.scalar_type());
        at::Tensor count = dims.empty() ? keep : keep.sum(dims, true);
        at::Tensor alpha = (dims.empty() ? a * keep : (a * keep).sum(dims, true)) / at::clamp_min(count, 1.0);
        q = at::sign(w.detach()) * keep * alpha;
      }
      return std::vector<at::Tensor>{straight_through(w, q)};
    };
    d.doc = ternary ? "ternary weights (TWN): sign(w) * alpha where |w| > threshold * mean|w| per channel, else 0; STE"
                    : "binary weights (BWN): sign(w) * mean|w| per channel; STE";
    r.add(std::move(d));
  }

  OpDef f;
  f.name = "bn_fold_weight";
  f.min_inputs = f.max_inputs = 3;
  f.optional_attrs = {"eps"};
  f.shape = [](const Node&, const std::vector<TensorType>& in) {
    if (in[0].shape.size() < 2) throw Error("bn_fold_weight wants a weight of rank >= 2, got " + shape_str(in[0].shape));
    check_channel_vectors(in, 1, 3, in[0].shape[0], "bn_fold_weight");
    return std::vector<TensorType>{in[0]};
  };
  f.kernel = [](const Node& n, const std::vector<at::Tensor>& in, const KernelContext&) {
    at::Tensor s = in[1] / at::sqrt(in[2] + n.attrs().f("eps", 1e-5));
    return std::vector<at::Tensor>{in[0] * s.reshape(channel_shape(in[0].dim(), 0))};
  };
  f.doc = "w * gamma / sqrt(running_var + eps) per output channel (QAT with BatchNorm folded into the weight)";
  r.add(std::move(f));

  OpDef b;
  b.name = "bn_qat";
  b.min_inputs = 5;
  b.max_inputs = 6;
  b.optional_attrs = {"eps", "momentum", "frozen"};
  b.shape = [](const Node&, const std::vector<TensorType>& in) {
    if (in[0].shape.size() < 2) throw Error("bn_qat input must have a channel dim, got " + shape_str(in[0].shape));
    check_channel_vectors(in, 1, in.size(), in[0].shape[1], "bn_qat");
    return std::vector<TensorType>{in[0]};
  };
  b.kernel = [](const Node& n, const std::vector<at::Tensor>& in, const KernelContext& ctx) {
    const double eps = n.attrs().f("eps", 1e-5);
    const auto cs = channel_shape(in[0].dim(), 1);
    at::Tensor s = in[1] / at::sqrt(in[4] + eps);
    at::Tensor y = in[0] / s.reshape(cs);
    if (in.size() > 5) y = y + in[5].reshape(cs);
    const bool batch_stats = ctx.training && n.attrs().i("frozen", 0) == 0;
    if (batch_stats && ctx.batch_norm_training)
      return std::vector<at::Tensor>{ctx.batch_norm_training(y, in[1], in[2], in[3], in[4], n.attrs().f("momentum", 0.1), eps)};
    return std::vector<at::Tensor>{
        at::batch_norm(y, in[1], in[2], in[3], in[4], batch_stats, n.attrs().f("momentum", 0.1), eps, true)};
  };
  b.macs = [](const Node&, const std::vector<TensorType>&, const std::vector<TensorType>& out) { return 2 * out[0].numel(); };
  b.doc = "BatchNorm after a conv whose weight was folded with bn_fold_weight (QAT; frozen = 1: running statistics)";
  r.add(std::move(b));
}

}  // namespace

void register_quant_ops(OpRegistry& r) {
  OpDef d;
  d.name = "fake_quant";
  d.min_inputs = d.max_inputs = 3;
  d.required_attrs = {"quant_min", "quant_max"};
  d.optional_attrs = {"axis", "grad_factor"};
  d.shape = [](const Node& n, const std::vector<TensorType>& in) {
    int64_t qmin = n.attrs().i("quant_min"), qmax = n.attrs().i("quant_max");
    if (qmin >= qmax) throw Error("fake_quant needs quant_min < quant_max, got [" + std::to_string(qmin) + ", " + std::to_string(qmax) + "]");
    if (qmax - qmin > 65535) throw Error("fake_quant grid [" + std::to_string(qmin) + ", " + std::to_string(qmax) + "] is wider than 16 bits");
    int64_t axis = n.attrs().i("axis", -1);
    int64_t want = 1;
    if (axis != -1) {
      int64_t rank = static_cast<int64_t>(in[0].shape.size());
      if (axis < 0 || axis >= rank)
        throw Error("fake_quant axis " + std::to_string(axis) + " is out of range for input " + shape_str(in[0].shape));
      want = in[0].shape[static_cast<size_t>(axis)];
    }
    for (int i = 1; i <= 2; ++i) {
      if (qparam_count(in[static_cast<size_t>(i)]) != want || in[static_cast<size_t>(i)].shape.size() > 1)
        throw Error(std::string("fake_quant ") + (i == 1 ? "scale" : "zero_point") + " has shape " +
                    shape_str(in[static_cast<size_t>(i)].shape) + ", expected " +
                    (axis == -1 ? "[] or [1] (per-tensor)" : "[" + std::to_string(want) + "] (per-channel, axis " + std::to_string(axis) + ")"));
    }
    if (in[1].dtype != DType::f32) throw Error("fake_quant scale must be f32");
    return std::vector<TensorType>{in[0]};
  };
  d.kernel = [](const Node& n, const std::vector<at::Tensor>& in, const KernelContext&) {
    const at::Tensor& x = in[0];
    int64_t qmin = n.attrs().i("quant_min"), qmax = n.attrs().i("quant_max");
    int64_t axis = n.attrs().i("axis", -1);
    at::Tensor scale = in[1].reshape({-1});
    at::Tensor zp = in[2].reshape({-1});
    if (scale.requires_grad()) {  // learned step size (LSQ)
      double gf = n.attrs().f("grad_factor", 1.0);
      at::Tensor zpf = zp.to(at::kFloat);
      if (axis == -1) return std::vector<at::Tensor>{at::_fake_quantize_learnable_per_tensor_affine(x, scale, zpf, qmin, qmax, gf)};
      return std::vector<at::Tensor>{at::_fake_quantize_learnable_per_channel_affine(x, scale, zpf, axis, qmin, qmax, gf)};
    }
    at::Tensor zpi = zp.to(at::kInt);
    if (axis == -1) return std::vector<at::Tensor>{at::fake_quantize_per_tensor_affine(x, scale, zpi, qmin, qmax)};
    return std::vector<at::Tensor>{at::fake_quantize_per_channel_affine(x, scale, zpi, axis, qmin, qmax)};
  };
  d.doc = "quantize-dequantize to the integer grid [quant_min, quant_max] (per-tensor, or per-channel along axis)";
  r.add(std::move(d));
  register_qat_ops(r);

  OpDef q;
  q.name = "dynamic_quant";
  q.min_inputs = q.max_inputs = 1;
  q.shape = [](const Node& n, const std::vector<TensorType>& in) {
    if (in[0].dtype != DType::f32) throw Error(n.op() + " input must be f32");
    return std::vector<TensorType>{in[0]};
  };
  q.kernel = [](const Node&, const std::vector<at::Tensor>& in, const KernelContext&) {
    const at::Tensor& x = in[0];
    const at::Tensor xd = x.detach();
    const float lo = std::min(0.0f, xd.numel() ? xd.min().item<float>() : 0.0f);
    const float hi = std::max(0.0f, xd.numel() ? xd.max().item<float>() : 0.0f);
    const float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    const float zp = std::nearbyint(std::max(0.0f, std::min(255.0f, 0.0f - lo / scale)));
    // x / scale as a true division (ATen turns division by a scalar into a multiplication by its
    // reciprocal, which rounds differently from ONNX Runtime's division).
    at::Tensor q = at::clamp(at::round(at::div(xd, at::full_like(xd, scale))) + zp, 0.0, 255.0);
    at::Tensor y = (q - zp) * scale;
    if (!x.requires_grad()) return std::vector<at::Tensor>{y};
    return std::vector<at::Tensor>{x + (y - xd)};  // straight-through
  };
  q.doc = "uint8 quantize-dequantize with run-time qparams from the tensor's own range (ONNX DynamicQuantizeLinear)";
  r.add(std::move(q));
}

}  // namespace mc::ir::ops
