// The `auto:` section of a recipe: what `compress auto` optimises, under which accuracy constraint,
// with which budget and which techniques (knobs). Declared once through visit() like stage options.
#pragma once
#include <string>
#include <vector>

#include "recipe/options.h"
#include "recipe/recipe.h"

namespace mc::search {

struct AutoOptions {
  std::string objective = "ort_latency";  // ort_latency | macs | bytes (the ONNX file)
  int64_t batch = 64;                      // ort_latency: batch size timed
  int64_t latency_runs = 20;               // ort_latency: timed runs per trial
  std::string latency_statistic = "median";  // median | min of the timed runs
  double max_loss = 1.0;                   // tolerable top-1 loss on data.val
  std::string loss = "points";             // points (absolute) | relative (percent of the baseline's top-1)
  int64_t trials = 12;                     // trials at most, the baseline included
  double minutes = 30;                     // wall-time budget of the search (sweep + trials)
  int64_t finetune_epochs = 1;             // epochs of each trial's distilled fine-tune (0: none)
  recipe::ConfigNode finetune;             // more finetune options (optimizer, schedule, distill, ...)
  std::vector<std::string> knobs{"prune_blocks", "prune_channels", "decompose", "cluster", "quantize"};
  int64_t round_channels = 16;             // prune_channels keeps channel counts multiples of this
  int64_t sweep_batches = 2;               // data.val batches per sensitivity measurement
  int64_t sweep_bn_batches = 8;            // data.train batches re-estimating BatchNorm statistics per measurement (0: off)
  int64_t sweep_finetune_steps = 30;       // steps of the sweep's distilled fine-tune after each structural move (0: off)
  int64_t sweep_long_finetune_steps = 400;  // the same, in all, for moves saving >= 10 % still over the tolerance (0: off)
  bool sweep_latency = true;               // ort_latency: the sweep times each move in ONNX Runtime (false: ranks by MACs)
  int64_t max_moves = 64;                  // the ranked moves considered (best first)
  recipe::Location loc;

  void visit(recipe::Visitor& v);
  /// Cross-field checks (knob names); errors at their file:line:col.
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
  /// The tolerated top-1 (fraction) for a baseline top-1 (fraction).
  double min_top1(double baseline_top1) const;
};

/// Reads recipe.auto_section (an InputError with every problem at file:line:col when it is missing
/// or wrong).
AutoOptions read_auto_options(const recipe::Recipe& recipe);

}  // namespace mc::search
