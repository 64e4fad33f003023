// Automatic mixed precision for weights: measure how much each layer's quantization costs at each
// candidate bit-width, then choose the bits per layer that meet a size budget with the least
// predicted loss (the sensitivity-then-allocate scheme of HAWQ / torch.ao's numeric suite, with
// the measured loss increase as the sensitivity instead of a Hessian trace).
//
//   measure_sensitivity()  for every weight quantizer of a plan and every candidate bit-width:
//                          quantize only that weight (activations and other layers stay float)
//                          and measure the mean cross-entropy on the calibration batches; the
//                          sensitivity is the increase over the float model's loss.
//   choose_bits()          multiple-choice knapsack, solved greedily: start every layer at the
//                          widest candidate; while the parameter-weighted average bits exceed the
//                          budget, take the single step down (one layer to its next narrower
//                          candidate) with the least predicted loss increase per bit saved.
//                          Predicted loss of an assignment = sum of the chosen sensitivities.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/loader.h"
#include "ir/model.h"
#include "quantization/insert_qdq.h"

namespace mc::quant {

struct LayerSensitivity {
  std::string name;    // the weight quantizer's name (its weight tensor)
  std::string scope;   // the layer's scope (per-layer override pattern)
  int64_t params = 0;  // weights in the tensor
  std::map<int64_t, double> loss_increase;  // by candidate bits
};

struct SensitivityResult {
  double float_loss = 0.0;
  int64_t samples = 0;
  std::vector<LayerSensitivity> layers;
};

/// `plan`'s weight quantizers, each alone at each of `candidates` (2..8 bits; the spec keeps its
/// qscheme/dtype, the grid is re-derived from the bits), on the first `batches` batches of
/// `loader` (0 = all). `model` is the float model the plan was made for; it is not changed.
/// InputError when the loader yields no samples.
SensitivityResult measure_sensitivity(const ir::Model& model, const QuantPlan& plan, const std::vector<int64_t>& candidates,
                                      data::DataLoader& loader, int64_t batches);

struct BitAllocation {
  std::map<std::string, int64_t> bits;  // by quantizer name
  double average_bits = 0.0;            // parameter-weighted
  double predicted_loss_increase = 0.0;
};

/// Bits per layer with parameter-weighted average <= `average_bits` (see the header comment).
/// InputError when the budget is below the narrowest candidate, or candidates are empty.
BitAllocation choose_bits(const std::vector<LayerSensitivity>& layers, const std::vector<int64_t>& candidates,
                          double average_bits);

}  // namespace mc::quant
