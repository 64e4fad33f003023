// Stages that need no training: evaluate, fold_batch_norm, optimize, save.
#pragma once
#include "pipeline/stage.h"

namespace mc::pipeline {

struct EvaluateOptions : NoExtraChecks {
  std::string split = "val";
  int64_t max_batches = 0;
  void visit(recipe::Visitor& v);
};
/// Measures top-1/top-5/loss on a split and records them in the stage details.
class EvaluateStage : public StageWithOptions<EvaluateOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  bool keeps_layers() const override { return true; }
  void run(RunContext& ctx) override;
  std::vector<std::string> needs_data() const override { return {options_.split}; }
};

struct NoOptions : NoExtraChecks {
  void visit(recipe::Visitor&) {}
};
/// Folds every BatchNorm that follows a conv/linear into its weights (inference graphs).
class FoldBatchNormStage : public StageWithOptions<NoOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  void run(RunContext& ctx) override;
};

/// The default graph optimisation pipeline (identities, constant folding, BN folding, CSE, DCE).
class OptimizeStage : public StageWithOptions<NoOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  void run(RunContext& ctx) override;
};

struct SaveOptions : NoExtraChecks {
  std::string path = "model.mcm";
  void visit(recipe::Visitor& v);
};
/// Writes a native checkpoint (IR text + tensors), or the compressed archive for a .mcz path (details:
/// `archive`, its size on disk and per-layer breakdown); both reload with `model: {checkpoint: ...}`.
class SaveStage : public StageWithOptions<SaveOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  bool keeps_layers() const override { return true; }
  void run(RunContext& ctx) override;
};

}  // namespace mc::pipeline
