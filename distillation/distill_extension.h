// The `distill:` section of the `train` and `finetune` stages (a pipeline TrainingExtension):
//
//   - finetune:
//       epochs: 3
//       distill:
//         teacher: original          # or {stage: fold_batch_norm} / {stage: 2}, zoo:resnet20, a .mcm or .pt
//         temperature: 4
//         alpha: 0.9                 # (1 - alpha) * CE + alpha * T^2 * KL
//         hints: [layer2.0.relu, {student: layer3.0.relu, teacher: layer3.2.relu}]
//         hint_weight: 1
//         attention: [layer2.0.relu]
//         attention_weight: 500
//         cache_teacher: false
//
// Options are checked when the recipe is read; the teacher is loaded and the scopes resolved
// when the stage starts, before any training (InputError with the recipe location).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "distillation/distill_modifier.h"
#include "pipeline/stage.h"
#include "pipeline/training_extension.h"

namespace mc::distill {

struct DistillOptions {
  recipe::ConfigNode teacher;
  double temperature = 4.0;
  double alpha = 0.9;
  recipe::ConfigNode hints = recipe::ConfigNode::seq({});
  double hint_weight = 1.0;
  recipe::ConfigNode attention = recipe::ConfigNode::seq({});
  double attention_weight = 500.0;
  bool cache_teacher = false;

  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
};

/// Parses a hints/attention list (scalars = same scope in both models, or {student:, teacher:}).
std::vector<FeaturePair> parse_pairs(const recipe::ConfigNode& list, const std::string& what, recipe::Diagnostics& diag);

/// The teacher a `teacher:` entry names, for the stage running in `ctx`. InputError (with the
/// recipe location) for an unknown teacher, a stage that is not earlier, or a missing file.
std::shared_ptr<ir::Model> load_teacher(const recipe::ConfigNode& teacher, const pipeline::RunContext& ctx);

class DistillExtension : public pipeline::TrainingExtension {
 public:
  void visit(recipe::Visitor& v) override { options_.visit(v); }
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const override { options_.validate(node, diag); }
  /// `teacher: {stage: X}` must name an earlier stage of the recipe.
  void check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const override;
  std::vector<std::shared_ptr<train::Modifier>> begin(pipeline::RunContext& ctx) override;
  void end(pipeline::RunContext& ctx, const train::TrainResult& result) override;

  const DistillOptions& options() const { return options_; }
  /// The modifier of the last run (null before begin()).
  const std::shared_ptr<DistillModifier>& modifier() const { return modifier_; }

 private:
  DistillOptions options_;
  std::shared_ptr<DistillModifier> modifier_;
  std::string teacher_desc_;
  bool teacher_has_val_ = false;
  double teacher_val_top1_ = 0.0;
};

}  // namespace mc::distill
