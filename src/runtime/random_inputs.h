// Random inputs for a model whose data is not given (latency measurement, `compress bench`).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <vector>

#include "ir/model.h"

namespace mc::runtime {

/// Exclusive upper bound of the values an integer graph input may take: the rows of the smallest
/// embedding table it indexes (token ids), else 2 (a 0/1 attention mask). Float inputs: 0.
int64_t integer_input_bound(const ir::Model& model, size_t input);

/// One tensor per graph input with dim 0 set to `batch` (> 0; else the declared batch): float
/// inputs standard normal, integer ones uniform in [0, integer_input_bound).
std::vector<at::Tensor> random_inputs(const ir::Model& model, int64_t batch, const c10::Device& device);

}  // namespace mc::runtime
