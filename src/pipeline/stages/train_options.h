// Options shared by the `train` and `finetune` stages.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/training_extension.h"
#include "recipe/options.h"
#include "train/trainer.h"

namespace mc::pipeline {

struct TrainStageOptions {
  int64_t epochs = 10;
  train::OptimizerSpec optimizer;
  train::ScheduleSpec schedule;
  double label_smoothing = 0.0;
  double grad_clip_norm = 0.0;
  int64_t max_steps_per_epoch = 0;
  bool validate_each_epoch = true;

  /// Extension sections this stage accepts (`distill`, ...), set before visit(); may be null.
  std::shared_ptr<const TrainingExtensions> extension_table;
  /// One instance per known extension (key, instance), and whether the recipe used it.
  std::vector<std::pair<std::string, std::shared_ptr<TrainingExtension>>> extension_instances;
  std::vector<std::string> extensions_used;

  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
  /// The extensions the recipe used, in registration order.
  std::vector<std::shared_ptr<TrainingExtension>> used_extensions() const;
  train::TrainOptions to_train_options(uint64_t seed, bool quiet, const std::string& label) const;
};

}  // namespace mc::pipeline
