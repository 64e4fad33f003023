// The files of an `auto` search directory, each rewritten atomically (trials.jsonl appended and
// fsync'ed) after every trial, so an interrupted search always leaves its best on disk:
//   search.json   what is searched (recipe hash, objective, constraint), checked by --resume
//   sweep.json    the per-layer sensitivity sweep (reused by --resume)
//   trials.jsonl  every finished trial, one JSON object a line
//   pareto.json   the trials on the Pareto front of (objective, top-1), the baseline, the best
//   best.yaml     the best trial's recipe (`compress --recipe best.yaml` reproduces it), with
//   best.mcm / best.onnx / best.json  its model, its export and its result (met or missed, by how much)
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "search/auto_options.h"
#include "search/trial.h"

namespace mc::search {

/// Trials read back from trials.jsonl (a torn last line, from a kill while writing it, is ignored).
std::vector<TrialResult> read_trials(const std::string& path);
/// Appends one line and fsyncs it.
void append_trial(const std::string& path, const TrialResult& t);

/// Indexes into `trials` of the Pareto front (lower objective, higher top-1), by objective.
std::vector<size_t> pareto_front(const std::vector<TrialResult>& trials);

struct Best {
  size_t index = 0;       // into trials
  bool met = false;       // its top-1 is within the constraint
  double miss = 0.0;      // top-1 points below the tolerated top-1 (0 when met)
  bool compressed = true; // false when only the baseline finished
};

/// The best trial: the lowest objective among those within the constraint that change the model;
/// when none does, the one closest to the tolerated top-1 (met false, miss in points); the baseline
/// only when no other trial finished. nullopt without a finished baseline.
std::optional<Best> choose_best(const std::vector<TrialResult>& trials, const AutoOptions& options);

/// Writes pareto.json, best.json and, when the best changed, best.yaml / best.mcm / best.onnx
/// (copies of the trial's recipe, saved model and export), each atomically.
void write_results(const std::string& out_dir, const std::vector<TrialResult>& trials, const AutoOptions& options);

}  // namespace mc::search
