// `train` (a freshly initialised model, from scratch) and `finetune` (continue training, driving
// the modifiers earlier stages installed: pruning masks, QAT range freezing, ...).
#pragma once
#include <optional>

#include "pipeline/stage.h"
#include "pipeline/stages/train_options.h"

namespace mc::pipeline {

struct TrainStageDefaults : TrainStageOptions {
  TrainStageDefaults();
};
struct FinetuneStageDefaults : TrainStageOptions {
  FinetuneStageDefaults();
};

class TrainStage : public StageWithOptions<TrainStageDefaults> {
 public:
  using StageWithOptions::StageWithOptions;
  bool keeps_layers() const override { return true; }
  void run(RunContext& ctx) override;
  std::vector<std::string> needs_data() const override { return {"train"}; }
  void check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const override {
    for (const auto& e : options_.used_extensions()) e->check_plan(recipe, index, diag);
  }
};

class FinetuneStage : public StageWithOptions<FinetuneStageDefaults> {
 public:
  using StageWithOptions::StageWithOptions;
  bool keeps_layers() const override { return true; }
  void run(RunContext& ctx) override;
  std::vector<std::string> needs_data() const override { return {"train"}; }
  void check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const override {
    for (const auto& e : options_.used_extensions()) e->check_plan(recipe, index, diag);
  }
};

/// The first `train` or `finetune` stage after stage `self` of `recipe`: the one that runs the
/// modifiers stage `self` installs. `epochs` is its recipe value (or the stage's default);
/// `path` names it for messages ("stages.3.finetune").
struct NextTraining {
  int64_t epochs = 0;
  std::string path;
};
std::optional<NextTraining> next_training_stage(const recipe::Recipe& recipe, size_t self);

/// Runs the trainer with `opts` and the context's pending modifiers (then clears them); records
/// per-epoch figures in ctx.details.
void run_training(RunContext& ctx, const TrainStageOptions& opts, const std::string& label);

}  // namespace mc::pipeline
