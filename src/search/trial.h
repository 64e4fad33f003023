// One trial of the `auto` search: a plain recipe (the base recipe's model, data, seed and threads
// plus the stages of a configuration) written to trials/NNN/recipe.yaml and run by the compress
// binary as a child process into trials/NNN/run; its result is read back from the run's report.json.
// A killed trial is just run again; the best trial's recipe is a recipe that ran.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "ir/model.h"
#include "recipe/recipe.h"
#include "search/auto_options.h"
#include "search/knobs.h"

namespace mc::search {

using Config = std::vector<Move>;

/// Canonical text of a configuration (its moves sorted), the key --resume matches trials by.
std::string config_key(Config config);

struct TrialResult {
  int64_t index = 0;
  Config config;
  std::string status;      // done | failed
  std::string error;       // failed: the child's message
  double objective = 0.0;  // the objective's value (ms, MACs or bytes)
  double top1 = 0.0;       // top-1 on data.val of the deployed model: ONNX Runtime's on the export when measured, else ours
  double top1_ours = 0.0;
  int64_t macs = 0, onnx_bytes = 0;
  double latency_median_ms = 0.0, latency_min_ms = 0.0;  // ort_latency only
  double seconds = 0.0;
  std::string dir;  // trials/NNN
  nlohmann::json to_json() const;
  static TrialResult from_json(const nlohmann::json& j);
};

/// The options of the trials' `finetune` stage, epochs left out: the hand recipes' distilled
/// fine-tune (recipes/resnet8_depth_channels.yaml) with auto.finetune merged over it.
recipe::ConfigNode finetune_options(const AutoOptions& options);

/// The recipe of a trial: the base recipe's tree (includes merged, `auto` and `stages` removed,
/// model and data paths made absolute) named `name`, with the configuration's stages in knob order,
/// the distilled fine-tune, a save of model.mcm and the export measuring what the objective needs.
recipe::ConfigNode trial_recipe(const recipe::Recipe& base, const AutoOptions& options, const ir::Model& model,
                                const Config& config, const std::string& name);

/// Runs `exe --recipe recipe_path --out run_dir -q` and reads the result (status failed with the
/// child's message when it exits non-zero or its report lacks what the objective needs).
TrialResult run_trial(const std::string& exe, const std::string& recipe_path, const std::string& run_dir,
                      const AutoOptions& options);

}  // namespace mc::search
