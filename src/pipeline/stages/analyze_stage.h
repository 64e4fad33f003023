// The `analyze` stage: `compress analyze` at a point of a recipe. The model as the earlier stages
// left it is compared layer by layer with the model as loaded (BatchNorms folded): output SQNR
// with only each layer compressed and with all of them, top-1 with each layer reverted
// (pipeline/analyze.h), into details.analysis, which report.md tabulates and report.html charts.
// Reverting copies the loaded model's weights back, so after a training stage it also undoes that
// layer's fine-tuning.
#pragma once
#include "pipeline/stage.h"

namespace mc::pipeline {

struct AnalyzeStageOptions : NoExtraChecks {
  recipe::ConfigNode layers;  // scope globs (default: every weight layer)
  int64_t val_samples = 0;
  int64_t sqnr_samples = 256;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
};

class AnalyzeStage : public StageWithOptions<AnalyzeStageOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  bool keeps_layers() const override { return true; }
  void run(RunContext& ctx) override;
  std::vector<std::string> needs_data() const override { return {"val"}; }
};

}  // namespace mc::pipeline
