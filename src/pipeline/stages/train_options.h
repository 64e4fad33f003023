// Options shared by the `train` and `finetune` stages.
#pragma once
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

  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode&, recipe::Diagnostics&) const {}
  train::TrainOptions to_train_options(uint64_t seed, bool quiet, const std::string& label) const;
};

}  // namespace mc::pipeline
