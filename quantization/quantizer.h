// The quantizer spec (torch.ao's vocabulary) and quantization parameters from a (min, max) range.
//
// A QuantSpec describes one uniform affine quantizer: its integer grid (bits, dtype, quant_min,
// quant_max, reduce_range) and how the grid is placed on a float range (qscheme, eps, ch_axis).
// compute_qparams() is torch.ao.quantization's UniformQuantizationObserverBase._calculate_qparams
// (1.13) step by step, in the same float32 tensor arithmetic, so scales and zero points are equal
// bit for bit. The same spec is used by PTQ and QAT (quantization/insert_qdq.h places it).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "recipe/options.h"

namespace mc::quant {

struct QuantSpec {
  int64_t bits = 8;                             // 2..8
  std::string qscheme = "per_tensor_symmetric"; // per_tensor_affine|per_tensor_symmetric|per_channel_affine|per_channel_symmetric
  std::string dtype = "qint8";                  // qint8 (signed grid) | quint8 (unsigned grid)
  int64_t quant_min = 0, quant_max = 0;         // both 0: derived from bits and dtype
  bool reduce_range = false;                    // halve the grid (torch.ao's reduce_range)
  double eps = 1.1920928955078125e-07;          // smallest scale (torch.finfo(float32).eps)
  int64_t ch_axis = 0;                          // per-channel axis (weights: output channel)
  // Weights only, QAT only: "int" (the uniform grid above), "binary" (BWN: sign(w) * mean|w| per
  // channel, 1 bit as stored) or "ternary" (TWN: {-1, 0, 1} * alpha per channel, 2 bits as stored).
  std::string type = "int";
  double threshold = 0.7;                       // ternary: delta = threshold * mean|w| per channel

  bool binary_or_ternary() const { return type == "binary" || type == "ternary"; }
  /// Bits per weight as stored (the report's bytes): 1 binary, 2 ternary, else `bits`.
  int storage_bits() const { return type == "binary" ? 1 : type == "ternary" ? 2 : static_cast<int>(bits); }

  bool symmetric() const { return qscheme == "per_tensor_symmetric" || qscheme == "per_channel_symmetric"; }
  bool per_channel() const { return qscheme == "per_channel_affine" || qscheme == "per_channel_symmetric"; }
  /// Options of a quantizer, shared by `weights:` and `activations:` and per-layer overrides.
  void visit(recipe::Visitor& v);
};

/// The integer grid of a spec, as torch.ao's calculate_qmin_qmax computes it. A custom range is
/// quant_min/quant_max when given, else the `bits`-wide grid of the dtype when bits != 8.
struct QRange {
  int64_t quant_min = -128, quant_max = 127;
  bool customized = false;  // torch.ao's has_customized_qrange
};
QRange qrange(const QuantSpec& spec);

/// Scale (f32) and zero point (i64) per tensor (shape [1]) or per channel (shape [C]).
struct QParams {
  at::Tensor scale;
  at::Tensor zero_point;
};

/// torch.ao's _calculate_qparams(min_val, max_val) for `spec`. min/max: 0-d (per tensor) or [C].
/// Invalid ranges (min > max, or empty) give scale 1, zero point 0, like torch.ao.
QParams compute_qparams(const QuantSpec& spec, const at::Tensor& min_val, const at::Tensor& max_val);

/// Per-channel (or per-tensor) min and max of a tensor as the spec's observer sees it.
std::pair<at::Tensor, at::Tensor> tensor_range(const QuantSpec& spec, const at::Tensor& x);

/// Quantize-dequantize `x` with `q` on the spec's grid (the fake_quant op's kernel).
at::Tensor fake_quantize(const QuantSpec& spec, const at::Tensor& x, const QParams& q);

}  // namespace mc::quant
