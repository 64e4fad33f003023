// The `quantize` stage's options: the recipe keys (visit), their cross-field checks (validate),
// the placement config they make (per-layer overrides, exclusions) and the plan check of mode: qat.
#pragma once
#include <string>
#include <vector>

#include "quantization/adaround.h"
#include "quantization/insert_qdq.h"
#include "quantization/observers.h"
#include "quantization/smooth_quant.h"
#include "recipe/options.h"
#include "recipe/recipe.h"

namespace mc::quant {

struct QuantizeOptions {
  std::string mode = "ptq";
  QuantSpec weights, activations;
  ObserverOptions observer;
  recipe::ConfigNode layers;
  std::vector<std::string> exclude;
  std::string adds = "all";  // which adds of two activations get quantized inputs (QuantConfig::integer_adds_only)
  std::string calib_file;
  int64_t calib_samples = 0;
  bool fold_batch_norm = true;
  bool cross_layer_equalization = false;
  bool bias_correction = false;
  // adaround: learned rounding of low-bit weights (quantization/adaround.h)
  bool adaround = false;
  AdaRoundOptions ada;
  // smooth_quant: migrate activation outliers into the weights first (quantization/smooth_quant.h)
  bool smooth_quant = false;
  SmoothQuantOptions sq;
  // mode: qat (quantization/qat.h)
  bool learn_scale = false;
  int64_t freeze_bn_epoch = -1;
  int64_t freeze_observers_epoch = -1;
  // mixed_precision: automatic per-layer weight bits (quantization/mixed_precision.h)
  bool mixed_precision = false;
  std::vector<int64_t> mp_candidates = {8, 4};
  double mp_average_bits = 6.0;
  int64_t mp_batches = 4;
  // Not options: where the stage's entry is (set when parsing), for error messages.
  std::string context;
  recipe::ConfigNode node;

  QuantizeOptions();
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
  /// The placement config: global specs, per-layer overrides (errors into diag), exclusions.
  QuantConfig config(recipe::Diagnostics& diag) const;
  void validate_adaround(const recipe::ConfigNode& node, const QuantConfig& c, recipe::Diagnostics& diag) const;
};

/// mode: qat needs a later finetune (or train) stage to train in, and the freeze epochs must fall
/// inside it: errors into `diag` at the keys (the plan's check, before any stage runs).
void check_qat_plan(const QuantizeOptions& o, const recipe::Recipe& recipe, size_t self, recipe::Diagnostics& diag);

}  // namespace mc::quant
