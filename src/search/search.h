// `compress auto`: accuracy-aware automatic compression across techniques. A per-layer sensitivity
// sweep (pipeline/layer_sweep.h) ranks the knobs' (layer, setting) moves by objective gain per top-1
// lost; trials (search/trial.h) take a prefix of that ranking, its length found by bisection on the
// constraint, then the remaining budget tries the best configuration plus one more move at a time.
// Every trial is a recipe run as a child process; the Pareto front and the best so far are on disk
// after each (search/search_files.h). docs/architecture.md, "Automatic compression search".
#pragma once
#include <string>

#include "ir/model.h"
#include "pipeline/data_context.h"
#include "pipeline/stage.h"
#include "recipe/recipe.h"
#include "search/auto_options.h"

namespace mc::search {

struct SearchRun {
  std::string exe;      // the compress binary the trials run
  std::string out_dir;  // the search directory
  bool resume = false;  // continue the search in out_dir without repeating finished trials
  bool quiet = false;
};

struct SearchOutcome {
  int64_t trials = 0;         // trials in trials.jsonl
  int64_t trials_run = 0;     // of which run by this call
  bool has_best = false;
  bool met = false;
  double miss_points = 0.0;
  std::string summary;        // one paragraph for the user
};

/// Runs (or with run.resume continues) the search. InputError (exit 2) for a directory that holds
/// another search, or one from another recipe on --resume.
SearchOutcome run_search(const recipe::Recipe& recipe, pipeline::DataContext& data, const ir::Model& model,
                         const pipeline::StageRegistry& registry, const AutoOptions& options, const SearchRun& run);

}  // namespace mc::search
