// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization"): for conv -> relu -> conv
// pairs, output channel i of the first conv is divided by s_i and input channel i of the second
// multiplied by s_i (ReLU is positively homogeneous, so the float function is unchanged), with
// s_i = sqrt(r1_i * r2_i) / r2_i, which makes both layers' per-channel weight ranges equal to
// sqrt(r1_i * r2_i). Chains are equalized pair by pair, repeated until the scales settle.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "ir/model.h"

namespace mc::quant {

/// s_i for ranges r1 (first layer's output channels) and r2 (second layer's input channels);
/// 1 where either range is 0.
at::Tensor equalization_scales(const at::Tensor& r1, const at::Tensor& r2);

struct EqualizeSummary {
  std::vector<std::string> pairs;  // "conv1 -> conv2" scopes
};

/// Equalizes every conv2d -> relu -> conv2d pair in which the first conv's output is read by the
/// relu alone and the relu's output by the second conv alone (groups = 1, static weights).
EqualizeSummary equalize_model(ir::Model& m, int iterations = 4);

}  // namespace mc::quant
