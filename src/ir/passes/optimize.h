/// The default inference clean-up pipeline over the generic passes, run to a fixed point:
///   remove_identities, constant_folding, fold_batch_norm, fold_scale_shift,
///   common_subexpression_elimination, dead_code_elimination
/// (why each sits where it does: see default_pipeline() in optimize.cpp). A sweep runs every pass
/// once; sweeps repeat until one changes nothing or `max_iterations` is reached.
///
/// Inference only: dropout/stochastic_depth disappear and batch_norm uses its running statistics.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mc::ir {
class Model;
}

namespace mc::ir::passes {

/// A pass of a pipeline: its name (as in the summary and logs) and the function.
struct NamedPass {
  std::string name;
  std::function<bool(Model&)> run;
};

/// What one pass did over all sweeps.
struct PassStats {
  std::string pass;
  int runs = 0;     // times it ran
  int changed = 0;  // runs that changed the model
  std::map<std::string, int64_t> op_delta;  // op -> nodes added (> 0) / removed (< 0), net
  int64_t tensors_delta = 0;                // store tensors added / removed, net
};

struct OptimizeSummary {
  int iterations = 0;      // sweeps run
  bool converged = false;  // the last sweep changed nothing
  int64_t nodes_before = 0, nodes_after = 0;
  int64_t tensors_before = 0, tensors_after = 0;
  std::vector<PassStats> passes;  // pipeline order

  bool changed() const;
  /// "optimize: 2 sweeps (fixed point), nodes 14 -> 8, tensors 12 -> 8" and one line per pass,
  /// e.g. "  fold_batch_norm: changed 1 of 2 runs; batch_norm -1, constant -2, param -2".
  std::string to_string() const;
};

struct OptimizeOptions {
  int max_iterations = 10;
  /// Model::verify() after every pass that changed the model; a failure is an internal error
  /// naming the pass.
  bool verify_each = true;
};

/// The default pipeline, in order.
const std::vector<NamedPass>& default_pipeline();

/// Runs `pipeline` over `model` in sweeps until a sweep changes nothing.
OptimizeSummary run_pipeline(Model& model, const std::vector<NamedPass>& pipeline, const OptimizeOptions& options = {});

/// run_pipeline(model, default_pipeline(), options).
OptimizeSummary optimize(Model& model, const OptimizeOptions& options = {});

}  // namespace mc::ir::passes
