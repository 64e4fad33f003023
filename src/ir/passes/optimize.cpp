#include "ir/passes/optimize.h"

#include <spdlog/spdlog.h>

#include <sstream>

#include "common/error.h"
#include "ir/model.h"
#include "ir/passes/common_subexpression_elimination.h"
#include "ir/passes/constant_folding.h"
#include "ir/passes/dead_code_elimination.h"
#include "ir/passes/fold_batch_norm.h"
#include "ir/passes/fold_scale_shift.h"
#include "ir/passes/pass_util.h"
#include "ir/passes/remove_identities.h"

namespace mc::ir::passes {

const std::vector<NamedPass>& default_pipeline() {
  static const std::vector<NamedPass> pipeline = {
      // First: a dropout or identity between a conv and its batch_norm (or scale) hides the pattern
      // from the folds below, and a no-op reshape on a constant would be folded for nothing.
      {"remove_identities", remove_identities},
      // Before the folds: turns constant expressions (a running_var reshaped, a scale computed
      // from constants) into single constant nodes, so what the folds read is a plain tensor.
      {"constant_folding", constant_folding},
      // Needs the conv/linear output to feed the batch_norm directly (identities gone above).
      {"fold_batch_norm", [](Model& m) { return fold_batch_norm(m); }},
      // After fold_batch_norm: a mul/add that followed a batch_norm now follows the conv itself.
      {"fold_scale_shift", fold_scale_shift},
      // After the rewrites: merges duplicate param/constant nodes and the duplicate ops that read
      // them, leaving the copies without users for dead_code_elimination.
      {"common_subexpression_elimination", common_subexpression_elimination},
      // Last: removes whatever the passes above left without a user, and the tensors only those
      // nodes referred to.
      {"dead_code_elimination", dead_code_elimination},
  };
  return pipeline;
}

namespace {
void add_delta(std::map<std::string, int64_t>& into, const std::map<std::string, int64_t>& before,
               const std::map<std::string, int64_t>& after) {
  for (auto& [op, n] : after) into[op] += n - (before.count(op) ? before.at(op) : 0);
  for (auto& [op, n] : before)
    if (!after.count(op)) into[op] -= n;
  for (auto it = into.begin(); it != into.end();) it = it->second == 0 ? into.erase(it) : std::next(it);
}
}  // namespace

OptimizeSummary run_pipeline(Model& model, const std::vector<NamedPass>& pipeline, const OptimizeOptions& options) {
  OptimizeSummary s;
  s.nodes_before = static_cast<int64_t>(model.graph.num_nodes());
  s.tensors_before = static_cast<int64_t>(model.tensors.size());
  for (const NamedPass& p : pipeline) s.passes.push_back(PassStats{p.name});
  while (s.iterations < options.max_iterations) {
    ++s.iterations;
    bool any = false;
    for (size_t i = 0; i < pipeline.size(); ++i) {
      PassStats& st = s.passes[i];
      const auto ops_before = op_counts(model.graph);
      const auto tensors_before = static_cast<int64_t>(model.tensors.size());
      const bool changed = pipeline[i].run(model);
      ++st.runs;
      if (!changed) continue;
      any = true;
      ++st.changed;
      add_delta(st.op_delta, ops_before, op_counts(model.graph));
      st.tensors_delta += static_cast<int64_t>(model.tensors.size()) - tensors_before;
      if (options.verify_each) {
        try {
          model.verify();
        } catch (const Error& e) {
          throw Error("internal: the model fails verification after pass '" + st.pass + "': " + e.what());
        }
      }
    }
    if (!any) {
      s.converged = true;
      break;
    }
  }
  s.nodes_after = static_cast<int64_t>(model.graph.num_nodes());
  s.tensors_after = static_cast<int64_t>(model.tensors.size());
  spdlog::debug("{}", s.to_string());
  return s;
}

OptimizeSummary optimize(Model& model, const OptimizeOptions& options) {
  return run_pipeline(model, default_pipeline(), options);
}

bool OptimizeSummary::changed() const {
  for (const PassStats& p : passes)
    if (p.changed) return true;
  return false;
}

std::string OptimizeSummary::to_string() const {
  std::ostringstream os;
  os << "optimize: " << iterations << (iterations == 1 ? " sweep" : " sweeps")
     << (converged ? " (fixed point)" : " (stopped before a fixed point)") << ", nodes " << nodes_before << " -> "
     << nodes_after << ", tensors " << tensors_before << " -> " << tensors_after << '\n';
  for (const PassStats& p : passes) {
    os << "  " << p.pass << ": changed " << p.changed << " of " << p.runs << (p.runs == 1 ? " run" : " runs");
    const char* sep = "; ";
    for (auto& [op, d] : p.op_delta) {
      os << sep << op << ' ' << (d > 0 ? "+" : "") << d;
      sep = ", ";
    }
    if (p.tensors_delta) os << sep << "tensors " << (p.tensors_delta > 0 ? "+" : "") << p.tensors_delta;
    os << '\n';
  }
  return os.str();
}

}  // namespace mc::ir::passes
