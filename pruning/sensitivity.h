/// Pruning sensitivity analysis: each prunable layer alone is pruned by magnitude at several
/// ratios and the model's top-1 is measured; the weights are restored between trials. The table
/// shows which layers tolerate pruning (flat lines) and which do not (steep ones).
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "ir/model.h"
#include "pipeline/layer_select.h"

namespace mc::prune {

struct SensitivityTable {
  double baseline_top1 = 0.0;         // the unpruned model
  std::vector<double> ratios;         // pruning ratios tried (sparsity of the one layer)
  std::vector<pipeline::WeightLayer> layers;
  std::vector<int64_t> numel;         // elements of each layer's weight
  std::vector<std::vector<double>> top1;  // [layer][ratio]

  nlohmann::json to_json() const;
  /// "layer,param,numel,0.1,0.2,..." then one row per layer (top-1 as fractions).
  std::string to_csv() const;
};

/// Top-1 of the model as it is now.
using EvalFn = std::function<double()>;

/// Prunes each of `layers` alone at each ratio, calls `eval`, restores the weight. The model is
/// unchanged afterwards (bit for bit).
SensitivityTable analyze_sensitivity(ir::Model& model, const std::vector<pipeline::WeightLayer>& layers,
                                     const std::vector<double>& ratios, const EvalFn& eval);

/// A plain SVG line chart: top-1 against ratio, one line per layer, the baseline dashed, a legend.
std::string sensitivity_svg(const SensitivityTable& table);

}  // namespace mc::prune
