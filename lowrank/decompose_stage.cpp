#include "lowrank/decompose_stage.h"

#include <spdlog/spdlog.h>

#include "common/error.h"
#include "ir/op_registry.h"
#include "lowrank/factorize.h"
#include "lowrank/rank.h"

namespace mc::lowrank {

namespace {
bool is_layer(const ir::Node& n) {
  return (n.op() == "conv2d" || n.op() == "linear" || n.op() == "matmul") && pipeline::weight_param(n) != nullptr;
}

// Every `layers:` glob must match a layer that can be decomposed (not only grouped convs).
void check_layer_globs(const std::vector<PlannedLayer>& all, const DecomposeOptions& o) {
  std::vector<std::string> decomposable;
  for (const auto& l : all)
    if (l.shape.groups == 1) decomposable.push_back(l.scope);
  for (const auto& e : o.parsed_layers) {
    std::vector<std::string> grouped;
    bool ok = false;
    for (const auto& l : all) {
      if (!e.glob.matches(l.scope)) continue;
      if (l.shape.groups == 1) ok = true;
      else grouped.push_back(l.scope);
    }
    if (ok) continue;
    if (grouped.empty())
      pipeline::throw_glob_matches_nothing(e.glob, "decompose", "layers", "decomposable layer", decomposable);
    throw InputError(e.glob.loc.str() + ": decompose: layers glob '" + e.glob.pattern +
                     "' matches only grouped convs (" + pipeline::list_scopes(grouped) +
                     "); grouped and depthwise convs cannot be decomposed (a depthwise conv has no channel mixing "
                     "to factor). Fix the glob or remove it.");
  }
}

void resolve(PlannedLayer& l, const DecomposeOptions& o) {
  l.method = parse_method(o.method);
  l.rule = o.parsed_rule;
  l.where = o.rule_where;
  const int i = pipeline::last_match(o.parsed_layers, l.scope);
  if (i < 0) return;
  const LayerRule& r = o.parsed_layers[static_cast<size_t>(i)].value;
  if (r.has_method) l.method = r.method;
  if (r.rule.kind != RankRule::Kind::none) {
    l.rule = r.rule;
    l.where = r.where;
  }
}
}  // namespace

std::vector<PlannedLayer> plan_layers(ir::Model& model, const DecomposeOptions& o) {
  std::vector<PlannedLayer> all;
  std::vector<std::string> scopes;
  for (ir::Node* n : model.graph.nodes()) {
    if (!is_layer(*n)) continue;
    PlannedLayer l;
    l.node = n;
    l.scope = pipeline::layer_scope(*n);
    l.op = n->op();
    l.shape = layer_shape(*n);
    all.push_back(std::move(l));
    scopes.push_back(all.back().scope);
  }
  if (all.empty()) throw InputError("decompose: the model has no conv2d, linear or matmul layer with a stored weight");
  const auto unshared = pipeline::refuse_shared_layers(model, o.parsed_exclude, "decompose");
  pipeline::require_matches(unshared, scopes, "decompose", "exclude", "weight layer");
  check_layer_globs(all, o);
  for (auto& l : all) {
    for (const auto& g : o.parsed_exclude)
      if (g.matches(l.scope)) l.status = "excluded", l.reason = "matched by exclude glob '" + g.pattern + "'";
    if (l.status == "decomposed" && l.shape.groups != 1)
      l.status = "skipped", l.reason = "grouped conv (groups " + std::to_string(l.shape.groups) + ")";
    if (l.status != "decomposed") continue;
    resolve(l, o);
    (void)layer_weight(model, *l.node);  // quantized or computed weights: InputError naming the layer
  }
  return all;
}

void rule_ranks_for(const ir::Model& model, std::vector<PlannedLayer>& layers, const DecomposeOptions& o) {
  recipe::Diagnostics diag;
  for (auto& l : layers) {
    if (l.status != "decomposed" || l.rule.kind == RankRule::Kind::none) continue;
    const ConvMethod m = l.shape.conv ? l.method : ConvMethod::channel_svd;
    std::string why = rule_problem(l.rule, l.method, !l.shape.conv);
    if (why.empty()) {
      l.ranks = rule_ranks(layer_weight(model, *l.node), l.shape, l.method, l.rule);
      if (l.rule.kind != RankRule::Kind::rank) {
        const Ranks max = max_ranks(l.shape, m);
        for (size_t i = 0; i < l.ranks.size(); ++i) l.ranks[i] = round_up_rank(l.ranks[i], o.round_to, max[i]);
      }
      why = rank_problem(l.shape, m, l.ranks);
    }
    if (!why.empty()) diag.error(l.where, "decompose: layer '" + l.scope + "' (" + shape_text(l.shape) + "): " + why);
  }
  diag.throw_if_any("decompose: the rank rules do not fit the model");
}

namespace {
std::string method_text(const PlannedLayer& l, const Factored* f) {
  if (l.status == "excluded" || l.status == "skipped") return "-";  // no method was resolved for it
  if (!l.shape.conv) return "svd";
  if (f && f->cp_fallback) return "cp -> tucker2 fallback";
  return method_name(l.method);
}

nlohmann::json row(const PlannedLayer& l, const Factored* f, const Cost& after) {
  const Cost before = dense_cost(l.shape);
  nlohmann::json r{{"scope", l.scope}, {"op", l.op}, {"status", l.status}, {"method", method_text(l, f)},
                   {"macs_before", before.macs}, {"params_before", before.params}};
  if (f || !l.ranks.empty()) r["ranks"] = f ? f->ranks : l.ranks;
  r["macs_after"] = l.status == "decomposed" ? after.macs : before.macs;
  r["params_after"] = l.status == "decomposed" ? after.params : before.params;
  if (f) r["rel_error"] = f->rel_error;
  if (f && f->cp_error >= 0) r["cp_als_error"] = f->cp_error;
  if (!l.reason.empty()) r["reason"] = l.reason;
  return r;
}

// Factors one layer (or finds it not cheaper: kept dense); the report row.
nlohmann::json apply_one(ir::Model& model, PlannedLayer& l, const DecomposeOptions& o, bool by_params) {
  const ConvMethod m = l.chosen ? l.chosen->method : l.method;
  const Ranks ranks = l.chosen ? l.chosen->ranks : l.ranks;
  const Cost dense = dense_cost(l.shape), planned = factor_cost(l.shape, m, ranks);
  const int64_t a = by_params ? planned.params : planned.macs, b = by_params ? dense.params : dense.macs;
  if (o.only_if_cheaper && a >= b) {
    l.status = "kept_dense";
    l.reason = "factors at rank " + ranks_text(ranks) + " cost " + std::to_string(a) + (by_params ? " params" : " MACs") +
               " >= " + std::to_string(b);
    return row(l, nullptr, dense);
  }
  CpSettings cp{o.cp.max_iters, o.cp.max_error, o.round_to};
  Factored f = factorize(layer_weight(model, *l.node), l.shape, m, ranks, cp);
  if (l.chosen && l.chosen->cp_fallback) f.cp_fallback = true, f.cp_error = l.chosen->cp_error;
  if (f.cp_fallback)
    l.reason = "CP-ALS reached relative error " + std::to_string(f.cp_error) + " > cp.max_error " +
               std::to_string(o.cp.max_error) + "; tucker2 at the same MACs";
  apply_factors(model, l.node, f);
  l.node = nullptr;
  return row(l, &f, factor_cost(l.shape, f.method, f.ranks));
}
}  // namespace

nlohmann::json apply_plan(ir::Model& model, std::vector<PlannedLayer>& layers, const DecomposeOptions& o) {
  const bool by_params = o.has_target && o.target.params > 0;
  nlohmann::json rows = nlohmann::json::array();
  for (auto& l : layers) {
    if (l.status == "decomposed" && l.ranks.empty() && !l.chosen) {
      l.status = "kept_dense";
      if (l.reason.empty()) l.reason = "the target search kept it dense";
    }
    if (l.status != "decomposed") {
      rows.push_back(row(l, nullptr, dense_cost(l.shape)));
      continue;
    }
    rows.push_back(apply_one(model, l, o, by_params));
    spdlog::info("decompose: {:<24} {:<22} ranks {:<10} {}", l.scope, rows.back()["method"].get<std::string>(),
                 rows.back().contains("ranks") ? rows.back()["ranks"].dump() : "-", l.status);
  }
  return rows;
}

namespace {
int64_t total_macs(const ir::Model& m) {
  int64_t t = 0;
  for (const ir::Node* n : m.graph.nodes()) t += ir::node_macs(*n);
  return t;
}
}  // namespace

void DecomposeStage::check_model(const ir::Model& model, recipe::Diagnostics&) const {
  ir::register_core_ops();
  ir::Model m = model.clone();  // plan_layers keeps node pointers of the model it plans
  std::vector<PlannedLayer> layers = plan_layers(m, options_);
  rule_ranks_for(m, layers, options_);
}

void DecomposeStage::run(pipeline::RunContext& ctx) {
  ir::register_core_ops();
  const int64_t macs0 = total_macs(ctx.model), params0 = ctx.model.num_params();
  std::vector<PlannedLayer> layers = plan_layers(ctx.model, options_);
  std::vector<pipeline::StoredLayerRef> planned;
  for (const auto& l : layers)
    if (l.status == "decomposed") planned.push_back({l.scope, ir::weight_param(*l.node)->attrs().s("name")});
  pipeline::refuse_stored_layers(ctx.storage_bits, planned, "", "decompose",
                                 "its factors would not be on its codebook or grid: decompose before `cluster` / "
                                 "`quantize`");
  rule_ranks_for(ctx.model, layers, options_);
  if (options_.has_target) ctx.details["search"] = search_ranks(ctx, layers, options_);
  ctx.details["layers"] = apply_plan(ctx.model, layers, options_);
  ctx.model.drop_unused_tensors();
  ctx.model.verify();
  const int64_t macs1 = total_macs(ctx.model), params1 = ctx.model.num_params();
  int64_t decomposed = 0;
  for (const auto& l : layers) decomposed += l.status == "decomposed";
  ctx.details["method"] = options_.method;
  ctx.details["layers_decomposed"] = decomposed;
  ctx.details["macs_before"] = macs0;
  ctx.details["macs_after"] = macs1;
  ctx.details["params_before"] = params0;
  ctx.details["params_after"] = params1;
  spdlog::info("decompose: {} of {} layers decomposed, MACs {} -> {} ({:.1f}%), params {} -> {}", decomposed,
               layers.size(), macs0, macs1, 100.0 * static_cast<double>(macs1) / static_cast<double>(std::max<int64_t>(macs0, 1)),
               params0, params1);
}

}  // namespace mc::lowrank
