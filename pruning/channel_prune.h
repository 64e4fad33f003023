/// Structured channel pruning that physically shrinks the model (stage `prune_channels`).
///
/// Finds the channel dependency groups (pruning/dependency_graph.h), scores every unit with the
/// criterion (pruning/importance.h), selects the lowest per group or globally
/// (pruning/channel_select.h) and removes them (pruning/channel_removal.h): convs lose filters,
/// their consumers the matching input channels, BatchNorms the matching entries; the result is a
/// smaller dense model.
///   target: channels  removes `ratio` of the units
///   target: macs      removes units until the MACs fell by `ratio` (a bisection over the
///                     channel fraction of the same ranking)
/// Groups with a producing layer matched by an `exclude` glob are kept whole. Groups whose
/// channels reach the graph output (the classifier) or mix channels are never pruned.
///   YAML: `- prune_channels: {criterion: l1, ratio: 0.5, target: macs, scope: global, round_to: 8}`
#pragma once
#include <set>

#include "pipeline/layer_select.h"
#include "pipeline/stage.h"
#include "pruning/dependency_graph.h"
#include "pruning/importance.h"

namespace mc::prune {

struct ChannelPruneOptions {
  std::string criterion = "l1";
  double ratio = 0.5;
  std::string target = "channels";
  std::string scope = "uniform";
  int64_t round_to = 1;
  recipe::ConfigNode exclude;  // scope globs (pipeline::parse_scope_globs), with their locations
  int64_t calib_batches = 8;
  bool through_layer_norm = false;  // ChannelOptions::through_layer_norm
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
};

struct ChannelPlan {
  std::set<int64_t> units;   // canonical unit ids to remove
  int64_t total_units = 0;   // prunable units (excluded groups not counted)
  int64_t groups = 0;
};

/// Scores of every group's units (taylor needs `grads`), with excluded groups left out. InputError
/// when an exclude glob matches no node's scope.
struct ScoredGroups {
  std::vector<Group> groups;
  std::vector<std::vector<double>> scores;
};
ScoredGroups score_groups(const ir::Model& model, const DependencyGraph& graph, Criterion c,
                          const std::vector<pipeline::ScopeGlob>& exclude,
                          const std::map<std::string, at::Tensor>& grads = {});

/// The units to remove at channel fraction `ratio`.
ChannelPlan plan_channels(const ScoredGroups& scored, double ratio, bool global, int64_t round_to);

/// Total MACs of a model (the sum of node MACs, as the report counts them).
int64_t model_macs(const ir::Model& model);

/// Prunes `model` in place as the stage does; returns facts for the report.
nlohmann::json prune_channels(ir::Model& model, const ChannelPruneOptions& o,
                              const std::map<std::string, at::Tensor>& grads = {});

class ChannelPrune : public pipeline::StageWithOptions<ChannelPruneOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  void run(pipeline::RunContext& ctx) override;
  std::vector<std::string> needs_data() const override {
    return options_.criterion == "taylor" ? std::vector<std::string>{"calib"} : std::vector<std::string>{};
  }
  std::vector<LabelUse> needs_labels() const override {
    if (needs_data().empty()) return {};
    return {{"calib", "criterion: taylor scores channels by loss gradients"}};
  }
};

}  // namespace mc::prune
