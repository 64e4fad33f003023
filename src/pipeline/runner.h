// Runs a recipe: validate everything first (all errors at once), then the stages in order, with a
// checkpoint and a report after each, in a run directory that `--resume` can continue.
#pragma once
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "pipeline/data_context.h"
#include "pipeline/stage.h"
#include "recipe/recipe.h"

namespace mc::pipeline {

struct RunOptions {
  std::string recipe_path;
  std::vector<std::string> sets;  // --set key.path=value
  std::string out_dir;            // default runs/<recipe name>
  std::string device;             // overrides recipe.device when set
  int threads = -1;               // overrides recipe.threads when >= 0
  bool dry_run = false;
  bool resume = false;
  bool quiet = false;
  std::string trace_steps;        // --trace-steps FILE: each training step's loss (FILE.rank<k> on rank k > 0)
};

/// A validated recipe with its stages built (one per recipe entry; null for an unknown stage
/// name, which is then also an error in the diagnostics).
struct Plan {
  recipe::Recipe recipe;
  std::vector<std::unique_ptr<Stage>> stages;
};

/// Loads and validates the recipe and every stage's options; throws InputError listing every
/// problem with file:line:col. Does not open datasets (see DataContext::open).
Plan make_plan(const std::string& recipe_path, const std::vector<std::string>& sets, const StageRegistry& registry,
               recipe::Diagnostics& diag);

/// Errors for stages whose data split the recipe does not provide.
void check_stage_data(const Plan& plan, const DataContext& data, recipe::Diagnostics& diag);

/// The model as the recipe loads it (zoo, TorchScript or checkpoint; the input shape from
/// model.input.shape or the data).
ir::Model load_recipe_model(const recipe::Recipe& r, const DataContext& data);

/// Stage::check_model() of every stage that sees the model as loaded (up to and including the
/// first stage that does not keep the layers); errors into diag.
void check_stages_on_model(const Plan& plan, const ir::Model& model, recipe::Diagnostics& diag);

/// The whole run. Returns the process exit code (0); throws mc::Error on failure. With torchrun's
/// environment (RANK, WORLD_SIZE, ...) it is one rank of a data-parallel run: rank 0 alone writes
/// the run directory, the others log to log.rank<k>.txt there.
int run_recipe(const RunOptions& opts, const StageRegistry& registry);

/// Runs `f` (a stage, or measuring after one); any failure leaves as one line starting with `where`:
/// LibTorch errors as RuntimeFailure with the first line of their cause (no backtrace), mc::Errors
/// keep their kind (InputError: exit 2). Used by the runner and by `compress analyze`.
template <typename F>
void at_stage_boundary(const std::string& where, F f) {
  try {
    f();
  } catch (const InputError& e) {
    throw InputError(where + ": " + e.what());
  } catch (const Error& e) {
    throw RuntimeFailure(where + ": " + e.what());
  } catch (const std::exception& e) {  // c10::Error (backtrace after the first line), std::runtime_error
    throw RuntimeFailure(where + ": " + first_line(e.what()));
  }
}

/// The effective recipe (merged tree with every stage's options filled in with defaults).
recipe::ConfigNode effective_recipe(const Plan& plan);

}  // namespace mc::pipeline
