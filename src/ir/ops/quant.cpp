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
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

namespace {

int64_t qparam_count(const TensorType& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
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
}

}  // namespace mc::ir::ops
