#include "quantization/quantizer.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mc::quant {

using recipe::Spec;

void QuantSpec::visit(recipe::Visitor& v) {
  v.field("bits", bits, "bit width of the integer grid", Spec::range(2, 8));
  v.field("qscheme", qscheme, "how the grid is placed on the float range (torch.ao names)",
          Spec::one_of({"per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric"}));
  v.field("dtype", dtype, "signed (qint8) or unsigned (quint8) integer grid", Spec::one_of({"qint8", "quint8"}));
  v.field("quant_min", quant_min, "lowest grid value (0 together with quant_max = 0: from bits and dtype)");
  v.field("quant_max", quant_max, "highest grid value (0 together with quant_min = 0: from bits and dtype)");
  v.field("reduce_range", reduce_range, "halve the grid (torch.ao's reduce_range, for VNNI-less x86)");
  v.field("eps", eps, "smallest scale", Spec::range(0, 1));
  v.field("ch_axis", ch_axis, "per-channel axis of a weight (0: output channel of conv2d/linear)", Spec::range(0, 7));
  v.field("type", type,
          "weights, mode qat: int (the grid above), binary (BWN: sign(w) * mean|w| per channel, 1 bit) or "
          "ternary (TWN: {-1, 0, 1} * alpha per channel, 2 bits)",
          Spec::one_of({"int", "binary", "ternary"}));
  v.field("threshold", threshold, "ternary: weights with |w| <= threshold * mean|w| of their channel become 0 (TWN: 0.7)",
          Spec::range(0, 1));
}

namespace {
// Python's floor division.
int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
}  // namespace

QRange qrange(const QuantSpec& s) {
  QRange r;
  bool is_signed = s.dtype == "qint8";
  int64_t lo, hi;
  if (s.quant_min != 0 || s.quant_max != 0) {
    r.customized = true;
    lo = s.quant_min;
    hi = s.quant_max;
  } else if (s.bits != 8) {
    r.customized = true;
    lo = is_signed ? -(int64_t(1) << (s.bits - 1)) : 0;
    hi = is_signed ? (int64_t(1) << (s.bits - 1)) - 1 : (int64_t(1) << s.bits) - 1;
  } else {
    lo = is_signed ? (s.reduce_range ? -64 : -128) : 0;
    hi = is_signed ? (s.reduce_range ? 63 : 127) : (s.reduce_range ? 127 : 255);
    r.quant_min = lo;
    r.quant_max = hi;
    return r;
  }
  if (s.reduce_range) {
    lo = floordiv(lo, 2);
    hi = floordiv(hi, 2);
  }
  r.quant_min = lo;
  r.quant_max = hi;
  return r;
}

QParams compute_qparams(const QuantSpec& spec, const at::Tensor& min_in, const at::Tensor& max_in) {
  QRange r = qrange(spec);
  at::Tensor min_val = min_in.to(at::kFloat), max_val = max_in.to(at::kFloat);
  // torch.ao's check_min_max_valid: an empty observer (inf/-inf) or min > max gives (1, 0).
  bool valid = min_val.numel() > 0 && at::isfinite(min_val).all().item<bool>() &&
               at::isfinite(max_val).all().item<bool>() && (min_val <= max_val).all().item<bool>();
  if (!valid) return {at::ones({1}, at::kFloat), at::zeros({1}, at::kLong)};
  at::Tensor min_val_neg = at::min(min_val, at::zeros_like(min_val));
  at::Tensor max_val_pos = at::max(max_val, at::zeros_like(max_val));
  at::Tensor eps = at::tensor({static_cast<float>(spec.eps)}, at::kFloat);
  at::Tensor scale, zero_point = at::zeros(min_val_neg.sizes(), at::kLong);
  if (spec.symmetric()) {
    max_val_pos = at::max(-min_val_neg, max_val_pos);
    scale = max_val_pos / (static_cast<double>(r.quant_max - r.quant_min) / 2);
    scale = at::max(scale, eps);
    if (spec.dtype == "quint8") zero_point.fill_(r.customized ? floordiv(r.quant_min + r.quant_max, 2) : 128);
  } else {
    scale = (max_val_pos - min_val_neg) / static_cast<double>(r.quant_max - r.quant_min);
    scale = at::max(scale, eps);
    zero_point = r.quant_min - at::round(min_val_neg / scale).to(at::kInt);
    zero_point = at::clamp(zero_point, r.quant_min, r.quant_max).to(at::kLong);
  }
  if (scale.dim() == 0) scale = scale.reshape({1});
  if (zero_point.dim() == 0) zero_point = zero_point.reshape({1});
  return {scale.contiguous(), zero_point.contiguous()};
}

std::pair<at::Tensor, at::Tensor> tensor_range(const QuantSpec& spec, const at::Tensor& x_in) {
  at::Tensor x = x_in.detach().to(at::kFloat);
  if (!spec.per_channel()) return {x.min(), x.max()};
  if (spec.ch_axis >= x.dim())
    throw Error("per-channel axis " + std::to_string(spec.ch_axis) + " is out of range for a rank-" +
                std::to_string(x.dim()) + " tensor");
  at::Tensor y = x.transpose(0, spec.ch_axis).flatten(1);
  return {std::get<0>(y.min(1)), std::get<0>(y.max(1))};
}

at::Tensor fake_quantize(const QuantSpec& spec, const at::Tensor& x, const QParams& q) {
  QRange r = qrange(spec);
  at::Tensor zp = q.zero_point.to(at::kInt);
  if (spec.per_channel())
    return at::fake_quantize_per_channel_affine(x, q.scale, zp, spec.ch_axis, r.quant_min, r.quant_max);
  return at::fake_quantize_per_tensor_affine(x, q.scale.reshape({-1}), zp.reshape({-1}), r.quant_min, r.quant_max);
}

}  // namespace mc::quant
