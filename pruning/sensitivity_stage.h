/// The `sensitivity` stage: prunes each prunable layer alone at several ratios, measures top-1 on
/// a data split (the first `limit` samples), restores the weights, and writes sensitivity.json,
/// sensitivity.csv and sensitivity.svg into the run directory; the table goes into the report.
/// The model is unchanged.
///   - sensitivity: {ratios: [0.1, 0.3, 0.5, 0.7, 0.9], limit: 2000, exclude: [fc]}
#pragma once
#include "pipeline/stage.h"

namespace mc::prune {

struct SensitivityOptions {
  std::vector<double> ratios = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  std::string split = "val";
  int64_t limit = 0;
  recipe::ConfigNode exclude;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
};

class SensitivityStage : public pipeline::StageWithOptions<SensitivityOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  void run(pipeline::RunContext& ctx) override;
  std::vector<std::string> needs_data() const override { return {options_.split}; }
};

}  // namespace mc::prune
