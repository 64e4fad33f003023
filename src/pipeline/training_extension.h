// Training extensions: optional sections of the `train` and `finetune` stages' options (e.g.
// `distill:`) that a technique folder above the pipeline provides, without the pipeline knowing it.
// An extension declares its options once through visit() (so parsing, did-you-mean, `compress
// stages` and the effective-recipe echo work exactly as for stage options), checks them in
// validate(), and at run time turns them into train::Modifiers for the stage's Trainer.
//
//   // distillation/register.cpp
//   void register_distillation(pipeline::StageRegistry& r) {
//     r.training_extensions().add({"distill", "teacher-student distillation", [] {
//       return std::make_unique<DistillExtension>(); }});
//   }
//   // recipe
//   - finetune: {epochs: 3, distill: {teacher: original, temperature: 4}}
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/registry.h"
#include "recipe/options.h"

namespace mc::recipe {
struct Recipe;
}
namespace mc::train {
class Modifier;
struct TrainResult;
}
namespace mc::pipeline {

struct RunContext;

/// One use of an extension by one training stage (created per stage entry, options filled by visit).
class TrainingExtension {
 public:
  virtual ~TrainingExtension() = default;
  /// Declares the section's options (Reader, Describer, Writer).
  virtual void visit(recipe::Visitor& v) = 0;
  /// Cross-field checks after parsing; `node` is the section (for locations).
  virtual void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
    (void)node;
    (void)diag;
  }
  /// Checks against the rest of the recipe when the plan is built (Stage::check_plan of the
  /// training stage at 0-based position `index`).
  virtual void check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const {
    (void)recipe;
    (void)index;
    (void)diag;
  }
  /// Before training: checks against the models (InputError with the recipe location) and returns
  /// the modifiers the stage's Trainer drives after the ones earlier stages installed.
  virtual std::vector<std::shared_ptr<train::Modifier>> begin(RunContext& ctx) = 0;
  /// After training: adds figures to ctx.details (the stage has written details["epochs"]).
  virtual void end(RunContext& ctx, const train::TrainResult& result) {
    (void)ctx;
    (void)result;
  }
};

struct TrainingExtensionInfo {
  std::string key;  // the option section's name in the training stage (`distill`)
  std::string doc;
  std::function<std::unique_ptr<TrainingExtension>()> make;
};

/// The extensions known to a StageRegistry's `train` and `finetune` stages.
class TrainingExtensions {
 public:
  /// Adds an extension; a key already taken is an mc::Error naming both call sites.
  void add(TrainingExtensionInfo info, const char* file = __builtin_FILE(), int line = __builtin_LINE());
  const std::vector<TrainingExtensionInfo>& all() const { return infos_; }

 private:
  std::vector<TrainingExtensionInfo> infos_;
  Registrants registrants_{"training extension"};
};

}  // namespace mc::pipeline
