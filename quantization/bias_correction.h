// Empirical bias correction (Nagel et al. 2019, section 4.2): weight quantization shifts the mean
// of a layer's output by E[(W_q - W) x]. Measured per output channel on calibration data with the
// quantized model's own layer inputs, and subtracted from the layer's bias.
#pragma once
#include <string>
#include <vector>

#include "data/loader.h"
#include "ir/model.h"
#include "quantization/insert_qdq.h"

namespace mc::quant {

struct BiasCorrectionSummary {
  std::vector<std::string> layers;  // scopes of corrected layers
};

/// `m` is the quantized model (after insert_qdq) of `plan`; corrects the bias of every conv2d and
/// linear with a quantized weight. Runs `loader` (at most `max_samples` samples when > 0) once.
BiasCorrectionSummary correct_bias(ir::Model& m, const QuantPlan& plan, data::DataLoader& loader, int64_t max_samples = 0);

/// E[(W_q - W) x] per output channel of `layer` (conv2d or linear) for inputs `x`: the mean over
/// every dim but the channel of layer(x, W_q - W) without bias.
at::Tensor weight_error_mean(const ir::Node& layer, const at::Tensor& x, const at::Tensor& weight_error);

}  // namespace mc::quant
