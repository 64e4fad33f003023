#include "pruning/channel_prune.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "common/error.h"
#include "ir/op_registry.h"
#include "pipeline/data_context.h"
#include "pruning/channel_removal.h"
#include "pruning/channel_select.h"
#include "runtime/executor.h"
#include "train/loss.h"

namespace mc::prune {

using recipe::Spec;

void ChannelPruneOptions::visit(recipe::Visitor& v) {
  v.field("criterion", criterion, "channel importance: l1, l2, fpgm (geometric median), bn_scale (|gamma|), "
          "taylor (|w * dL/dw| on data.calib)", Spec::one_of({"l1", "l2", "fpgm", "bn_scale", "taylor"}));
  v.field("ratio", ratio, "fraction of channels (target: channels) or of MACs (target: macs) to remove",
          Spec::range(0.0, 0.95));
  v.field("target", target, "what `ratio` measures", Spec::one_of({"channels", "macs"}));
  v.field("scope", scope, "uniform: the same ratio in every group; global: one ranking over all groups",
          Spec::one_of({"uniform", "global"}));
  v.field("round_to", round_to, "keep channel counts multiples of this (1 = any count)", Spec::range(1, 1024));
  v.field("exclude", exclude, "scope globs of layers whose channel groups are kept whole");
  v.field("calib_batches", calib_batches, "batches of data.calib for taylor gradients", Spec::range(1, 100000));
  v.field("through_layer_norm", through_layer_norm,
          "also prune the channels a LayerNorm normalises over (a transformer's embedding width); not "
          "output-preserving, fine-tune afterwards");
}

void ChannelPruneOptions::validate(const recipe::ConfigNode&, recipe::Diagnostics& diag) const {
  pipeline::parse_scope_globs(exclude, "prune_channels.exclude", diag);
}

ScoredGroups score_groups(const ir::Model& model, const DependencyGraph& graph, Criterion c,
                          const std::vector<pipeline::ScopeGlob>& exclude,
                          const std::map<std::string, at::Tensor>& grads) {
  pipeline::require_matches(exclude, pipeline::node_scopes(model), "prune_channels", "exclude", "layer scope");
  ScoredGroups out;
  for (Group& g : graph.groups()) {
    bool excluded = false;
    for (const ir::Node* p : g.producers)
      for (const pipeline::ScopeGlob& glob : exclude) excluded = excluded || glob.matches(p->scope());
    if (excluded) continue;
    out.scores.push_back(unit_importance(model, g, c, grads));
    out.groups.push_back(std::move(g));
  }
  return out;
}

ChannelPlan plan_channels(const ScoredGroups& scored, double ratio, bool global, int64_t round_to) {
  ChannelPlan plan;
  plan.groups = static_cast<int64_t>(scored.groups.size());
  auto picks = select_units(scored.scores, ratio, global, round_to);
  for (size_t g = 0; g < scored.groups.size(); ++g) {
    plan.total_units += static_cast<int64_t>(scored.groups[g].units.size());
    for (int64_t i : picks[g]) plan.units.insert(scored.groups[g].units[i].id);
  }
  return plan;
}

int64_t model_macs(const ir::Model& model) {
  int64_t macs = 0;
  for (const ir::Node* n : model.graph.nodes()) macs += ir::node_macs(*n);
  return macs;
}

namespace {
int64_t macs_after(const ir::Model& model, const std::set<int64_t>& units, ChannelOptions options) {
  ir::Model m = model.clone();
  remove_channels(m, analyze_channels(m, options), units);
  return model_macs(m);
}
}  // namespace

nlohmann::json prune_channels(ir::Model& model, const ChannelPruneOptions& o,
                              const std::map<std::string, at::Tensor>& grads) {
  ir::register_core_ops();
  const Criterion c = parse_criterion(o.criterion);
  ChannelOptions analysis;
  analysis.through_layer_norm = o.through_layer_norm;
  DependencyGraph graph = analyze_channels(model, analysis);
  recipe::Diagnostics diag;  // already checked by validate(); parsed again for the locations
  const auto exclude = pipeline::parse_scope_globs(o.exclude, "prune_channels.exclude", diag);
  diag.throw_if_any();
  ScoredGroups scored = score_groups(model, graph, c, exclude, grads);
  if (c == Criterion::bn_scale) {
    bool any = false;
    for (const auto& sc : scored.scores)
      for (double v : sc) any = any || !std::isinf(v);
    if (!any && !scored.groups.empty())
      throw InputError("prune_channels: criterion bn_scale needs BatchNorm layers on the prunable channels, and this "
                       "model has none (folded by fold_batch_norm?); use criterion l1, l2, fpgm or taylor, or prune "
                       "before folding");
  }
  const bool global = o.scope == "global";
  const int64_t macs0 = model_macs(model), params0 = model.num_params();
  double fraction = o.ratio;
  ChannelPlan plan = plan_channels(scored, fraction, global, o.round_to);
  if (o.target == "macs" && o.ratio > 0) {
    // Smallest channel fraction whose pruning removes `ratio` of the MACs (MACs fall
    // monotonically with the fraction: the ranking only grows).
    double lo = 0.0, hi = 0.95;
    ChannelPlan best = plan_channels(scored, hi, global, o.round_to);
    if (1.0 - static_cast<double>(macs_after(model, best.units, analysis)) / macs0 < o.ratio) {
      spdlog::warn("prune_channels: cannot remove {:.0f}% of the MACs; removing what the prunable groups allow",
                   o.ratio * 100);
      fraction = hi;
    } else {
      for (int it = 0; it < 12; ++it) {
        double mid = 0.5 * (lo + hi);
        ChannelPlan p = plan_channels(scored, mid, global, o.round_to);
        if (1.0 - static_cast<double>(macs_after(model, p.units, analysis)) / macs0 >= o.ratio) {
          hi = mid;
          best = std::move(p);
        } else {
          lo = mid;
        }
      }
      fraction = hi;
    }
    plan = std::move(best);
  }
  RemovalSummary s = remove_channels(model, graph, plan.units);
  model.drop_unused_tensors();
  const int64_t macs1 = model_macs(model), params1 = model.num_params();
  spdlog::info("prune_channels: removed {} of {} channels in {} groups ({}), MACs {} -> {} (-{:.1f}%), params {} -> {}",
               s.units, plan.total_units, plan.groups, o.criterion, macs0, macs1,
               100.0 * (1.0 - static_cast<double>(macs1) / std::max<int64_t>(macs0, 1)), params0, params1);
  nlohmann::json d;
  d["criterion"] = o.criterion;
  d["groups"] = plan.groups;
  d["channels_total"] = plan.total_units;
  d["channels_removed"] = s.units;
  d["channel_fraction"] = fraction;
  d["macs_before"] = macs0;
  d["macs_after"] = macs1;
  d["params_before"] = params0;
  d["params_after"] = params1;
  return d;
}

void ChannelPrune::run(pipeline::RunContext& ctx) {
  std::map<std::string, at::Tensor> grads;
  if (options_.criterion == "taylor") {
    runtime::Executor ex(ctx.model);
    std::vector<at::Tensor> params = ex.parameters();
    std::vector<std::string> names = ex.parameter_names();
    auto loader = ctx.data.loader("calib", false);
    data::Batch b;
    int64_t n = 0;
    while (n < options_.calib_batches && loader->next(b)) {
      at::Tensor loss = train::cross_entropy(ex.forward({b.images}, false).at(0), b.labels);
      loss.backward();
      ++n;
    }
    for (size_t i = 0; i < params.size(); ++i) {
      if (params[i].grad().defined()) grads[names[i]] = params[i].grad().detach().clone();
      params[i].mutable_grad().reset();
    }
    if (grads.empty()) throw RuntimeFailure("prune_channels: taylor got no gradients from data.calib");
  }
  ctx.details = prune_channels(ctx.model, options_, grads);
}

}  // namespace mc::prune
