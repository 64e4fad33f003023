// The search's per-layer sweep (pipeline/layer_sweep.h run on every candidate of the enabled knobs):
// each structural move fine-tuned a few steps (auto.sweep_finetune_steps) and its BatchNorm
// statistics re-estimated (auto.sweep_bn_batches) before its top-1, and, under the ort_latency
// objective, each move's model timed in ONNX Runtime like a trial's export (auto.sweep_latency).
// The result is kept in sweep.json of the search directory and reused when measured the same way.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "ir/model.h"
#include "pipeline/data_context.h"
#include "pipeline/layer_sweep.h"
#include "pipeline/stage.h"
#include "recipe/recipe.h"
#include "search/auto_options.h"

namespace mc::search {

struct SweepResult {
  pipeline::SweepBaseline baseline;
  std::vector<pipeline::SweepRow> rows;
  double seconds = 0.0;  // of the measurement (also when read back from sweep.json)
};

/// The sweep of `model` for the search in `out_dir`: read from out_dir/sweep.json when that holds
/// the same candidates measured with the same sweep_settings, else measured and written there.
SweepResult run_sweep(const recipe::Recipe& recipe, pipeline::DataContext& data, const ir::Model& model,
                      const pipeline::StageRegistry& registry, const AutoOptions& options, const std::string& out_dir);

/// How the sweep measures (BatchNorm batches, the recovery fine-tune's recipe text, the latency
/// probe's batch, runs and statistic): recorded in sweep.json.
nlohmann::json sweep_settings(const AutoOptions& options);

/// Whether the sweep times each move in ONNX Runtime (objective ort_latency and auto.sweep_latency).
bool sweep_times_latency(const AutoOptions& options);

}  // namespace mc::search
