/// The `decompose` stage: replaces conv2d / linear / matmul layers by low-rank factor chains
/// (lowrank/rewrite.h), with ranks from a rule or from a whole-model MACs / params target.
/// Options: lowrank/decompose_options.h. Per layer, in order: `exclude` keeps it dense; the last
/// `layers:` entry matching it gives its method and/or rank rule; grouped convs are skipped (a
/// `layers:` glob naming only grouped convs is an error). With a rank rule, ranks come from
/// lowrank/rank_rule.h (computed ones rounded up to `round_to`); with `target:` from the greedy
/// search of lowrank/rank_search.h (layers with a rule of their own keep it). A layer whose factors
/// would cost as many MACs (params for a params target) as the layer or more stays dense
/// (`only_if_cheaper`). Every model-dependent error (a rank above the layer's maximum, a glob that
/// matches no layer, quantized weights, an unreachable target) is raised before the model changes.
/// Report (`details`): one row per layer (scope, op, method, ranks, MACs and params before/after,
/// relative weight error ||W - W_r|| / ||W||, status and reason), the search, totals.
#pragma once
#include <nlohmann/json.hpp>

#include "lowrank/decompose_options.h"
#include "lowrank/rank_search.h"
#include "pipeline/stage.h"

namespace mc::lowrank {

/// One layer the stage looked at.
struct PlannedLayer {
  ir::Node* node = nullptr;
  std::string scope, op;
  LayerShape shape;
  ConvMethod method = ConvMethod::tucker2;
  RankRule rule;              // Kind::none under a target: searched
  recipe::Location where;     // of the rule, for errors
  Ranks ranks;                // empty: stays dense
  std::string status = "decomposed";  // | kept_dense | excluded | skipped
  std::string reason;
  std::vector<Candidate> candidates;  // the target search's, for the report
  const Candidate* chosen = nullptr;
};

/// The conv2d / linear / matmul layers with a stored weight, with `exclude` and `layers:` applied
/// (InputErrors as described above). Reads no data.
std::vector<PlannedLayer> plan_layers(ir::Model& model, const DecomposeOptions& o);

/// Ranks from the rank rules (every layer with a rule); all problems in one InputError.
void rule_ranks_for(const ir::Model& model, std::vector<PlannedLayer>& layers, const DecomposeOptions& o);

/// Ranks for the layers without a rule of their own by the target search (decompose_target.cpp).
nlohmann::json search_ranks(pipeline::RunContext& ctx, std::vector<PlannedLayer>& layers, const DecomposeOptions& o);

/// Factors and rewrites every planned layer with ranks (or keeps it dense); the report rows.
nlohmann::json apply_plan(ir::Model& model, std::vector<PlannedLayer>& layers, const DecomposeOptions& o);

class DecomposeStage : public pipeline::StageWithOptions<DecomposeOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  /// Globs, quantized weights and rank rules against the model's layers (before anything runs).
  void check_model(const ir::Model& model, recipe::Diagnostics& diag) const override;
  void run(pipeline::RunContext& ctx) override;
  std::vector<std::string> needs_data() const override {
    return options_.has_target ? std::vector<std::string>{"calib"} : std::vector<std::string>{};
  }
  std::vector<LabelUse> needs_labels() const override {
    if (!options_.has_target) return {};
    return {{"calib", "target: ranks candidates by the cross-entropy on it"}};
  }
};

}  // namespace mc::lowrank
