#include "sharing/cluster_stage.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <set>

#include "common/error.h"
#include "sharing/codebook_modifier.h"
#include "sharing/kmeans.h"
#include "train/modifier.h"

namespace mc::share {

namespace {

// Params read by a weight quantizer (the quantize stage's graph: param -> fake_quant -> layer).
std::set<std::string> quantized_params(const ir::Model& model) {
  static const std::set<std::string> kQuantizers{"fake_quant", "binary_quant", "ternary_quant"};
  std::set<std::string> out;
  for (const ir::Node* n : model.graph.nodes()) {
    if (!kQuantizers.count(n->op()) || n->inputs().empty()) continue;
    const ir::Node* p = n->input(0)->producer();
    if (p && p->op() == "param") out.insert(p->attrs().s("name"));
  }
  return out;
}

}  // namespace

std::vector<PlannedCluster> plan_clusters(const ir::Model& model, const ClusterOptions& o,
                                          const recipe::Location& where) {
  const std::vector<pipeline::WeightLayer> all = pipeline::find_weight_layers(model);
  if (all.empty())
    throw InputError(where.prefix() + "cluster: the model has no conv2d, linear or matmul layer with a stored weight");
  const auto unshared = pipeline::refuse_shared_layers(model, o.parsed_exclude, "cluster");
  const auto chosen = pipeline::select_layers(all, {}, unshared, "cluster", "weight layer");
  pipeline::require_matches(o.parsed_layers, pipeline::scopes_of(chosen), "cluster", "layers", "weight layer",
                            " (Layers matched by `exclude` are not clustered.)");
  const std::set<std::string> quantized = quantized_params(model);
  std::vector<PlannedCluster> out;
  for (const auto& l : chosen) {
    if (quantized.count(l.param))
      throw InputError(where.prefix() + "cluster: layer '" + l.scope + "' has a quantized weight ('" + l.param +
                       "' behind a weight quantizer); its values are already shared on a grid. Cluster before "
                       "`quantize`, or exclude the layer");
    if (model.tensor(l.param).scalar_type() != at::kFloat)
      throw InputError(where.prefix() + "cluster: layer '" + l.scope + "' has a weight that is not float32");
    const int i = pipeline::last_match(o.parsed_layers, l.scope);
    out.push_back({l, i >= 0 ? o.parsed_layers[static_cast<size_t>(i)].value.k : o.parsed_k});
  }
  return out;
}

void ClusterStage::check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const {
  where_ = recipe.stages.at(index).loc;
  earlier_.clear();
  for (size_t i = 0; i < index; ++i) {
    if (recipe.stages[i].name == "quantize")
      diag.error(where_, "cluster: stage " + std::to_string(i + 1) + " (quantize at " + recipe.stages[i].loc.str() +
                             ") comes first; quantized weights are already shared on a grid. Put `cluster` "
                             "before `quantize`");
    if (recipe.stages[i].name != "cluster") continue;
    recipe::Diagnostics ignored;  // that stage reports its own option errors
    ClusterOptions o = parse_cluster_options(recipe.stages[i].options, ignored, "cluster");
    if (ignored.ok()) earlier_.push_back({i, recipe.stages[i].loc, std::move(o)});
  }
}

void ClusterStage::check_model(const ir::Model& model, recipe::Diagnostics&) const {
  const std::vector<PlannedCluster> mine = plan_clusters(model, options_, where_);
  for (const Earlier& e : earlier_) {
    std::vector<PlannedCluster> theirs;
    try {
      theirs = plan_clusters(model, e.options, e.loc);
    } catch (const InputError&) {
      continue;  // reported by that stage's own check
    }
    std::set<std::string> taken;
    for (const auto& t : theirs) taken.insert(t.layer.param);
    for (const auto& m : mine)
      if (taken.count(m.layer.param))
        throw InputError(where_.prefix() + "cluster: layer '" + m.layer.scope + "' is already clustered by stage " +
                         std::to_string(e.index + 1) + " (cluster at " + e.loc.str() +
                         "); a layer is clustered once: exclude it here or there");
  }
}

namespace {

// Clusters one layer in place; its shared form and report row.
nlohmann::json cluster_one(ir::Model& model, const PlannedCluster& p, const ClusterOptions& o, uint64_t seed,
                           std::vector<SharedWeight>& shared) {
  const at::Tensor& w = model.tensor(p.layer.param);
  KMeansOptions ko;
  ko.k = p.k;
  ko.init = parse_init(o.init);
  ko.iters = o.iters;
  ko.per_channel = o.per_channel;
  ko.channel_dim = p.layer.input_dim == 0 ? 1 : 0;  // matmul x @ W: W is [in, out]
  ko.seed = seed;
  const Clustered c = kmeans_cluster(w, ko);
  const at::Tensor values = decode(c, ko.channel_dim);
  const double norm = w.to(at::kDouble).norm().item<double>();
  const double rel = norm > 0 ? (w.to(at::kDouble) - values.to(at::kDouble)).norm().item<double>() / norm : 0.0;
  {
    at::NoGradGuard no_grad;
    w.copy_(values);
  }
  shared.push_back(shared_weight(p.layer.param, c.codebook, c.indices, c.zero_entry, ko.channel_dim));
  const int64_t bits = index_bits(p.k);
  const int64_t bytes = (w.numel() * bits + 7) / 8 + c.codebook.numel() * 4;
  return {{"scope", p.layer.scope}, {"param", p.layer.param}, {"op", p.layer.op}, {"k", p.k},
          {"index_bits", bits}, {"init", o.init}, {"per_channel", o.per_channel}, {"rel_error", rel},
          {"zero_entry", c.zero_entry}, {"zeros_kept", c.zeros}, {"iterations", c.iterations},
          {"bytes_fp32", w.numel() * 4}, {"bytes_clustered", bytes}};
}

}  // namespace

void ClusterStage::run(pipeline::RunContext& ctx) {
  const recipe::Location where = where_;  // from check_plan(), which every plan runs
  const std::vector<PlannedCluster> plan = plan_clusters(ctx.model, options_, where);
  std::vector<pipeline::StoredLayerRef> refs;
  for (const auto& p : plan) refs.push_back({p.layer.scope, p.layer.param});
  pipeline::refuse_stored_layers(ctx.storage_bits, refs, where.prefix(), "cluster",
                                 "a layer is clustered once, before `quantize`");
  std::vector<SharedWeight> shared;
  nlohmann::json rows = nlohmann::json::array();
  int64_t fp32 = 0, clustered = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    rows.push_back(cluster_one(ctx.model, plan[i], options_, static_cast<uint64_t>(ctx.recipe.seed) + i, shared));
    const auto& r = rows.back();
    fp32 += r["bytes_fp32"].get<int64_t>();
    clustered += r["bytes_clustered"].get<int64_t>();
    ctx.storage_bits[plan[i].layer.param] = static_cast<int>(r["index_bits"].get<int64_t>());
    spdlog::info("cluster: {:<24} k {:<3} rel. error {:.4f}, {} zeros kept, {} iterations", plan[i].layer.scope,
                 plan[i].k, r["rel_error"].get<double>(), r["zeros_kept"].get<int64_t>(),
                 r["iterations"].get<int64_t>());
  }
  ctx.modifiers.push_back(std::make_shared<CodebookModifier>(std::move(shared)));
  ctx.details["init"] = options_.init;
  ctx.details["per_channel"] = options_.per_channel;
  ctx.details["layers"] = rows;
  ctx.details["layers_clustered"] = plan.size();
  ctx.details["bytes_fp32"] = fp32;
  ctx.details["bytes_clustered"] = clustered;
  spdlog::info("cluster: {} layers, weights {} -> {} bytes ({:.1f}x)", plan.size(), fp32, clustered,
               static_cast<double>(fp32) / static_cast<double>(std::max<int64_t>(clustered, 1)));
}

}  // namespace mc::share
