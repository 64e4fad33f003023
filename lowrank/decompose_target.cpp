// The decompose stage's `target:` path: candidates per layer, each measured on data.calib with
// only that layer decomposed, then select_ranks() (lowrank/rank_search.h).
#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "ir/op_registry.h"
#include "lowrank/calib_loss.h"
#include "lowrank/decompose_stage.h"
#include "lowrank/factorize.h"
#include "train/progress.h"

namespace mc::lowrank {

namespace {
bool searched(const PlannedLayer& l) { return l.status == "decomposed" && l.rule.kind == RankRule::Kind::none; }

int64_t measure(const Cost& c, bool by_params) { return by_params ? c.params : c.macs; }

// The model's cost once the layers with a rule of their own are factored (when cheaper).
int64_t cost_after_fixed(const ir::Model& model, const std::vector<PlannedLayer>& layers, bool by_params) {
  int64_t total = 0;
  if (by_params) {
    total = model.num_params();
  } else {
    for (const ir::Node* n : model.graph.nodes()) total += ir::node_macs(*n);
  }
  for (const auto& l : layers) {
    if (l.status != "decomposed" || l.ranks.empty()) continue;
    const ConvMethod m = l.shape.conv ? l.method : ConvMethod::channel_svd;
    total -= std::max<int64_t>(0, measure(dense_cost(l.shape), by_params) - measure(factor_cost(l.shape, m, l.ranks), by_params));
  }
  return total;
}

Candidate measure_candidate(ir::Model& model, const PlannedLayer& l, const Ranks& ranks, const DecomposeOptions& o,
                            CalibLoss& loss) {
  const at::Tensor w = layer_weight(model, *l.node);
  const Factored f = factorize(w, l.shape, l.method, ranks, CpSettings{o.cp.max_iters, o.cp.max_error});
  Candidate c;
  c.method = f.method;
  c.ranks = f.ranks;
  c.cost = factor_cost(l.shape, f.method, f.ranks);
  c.rel_error = f.rel_error;
  c.cp_fallback = f.cp_fallback;
  c.cp_error = f.cp_error;
  const at::Tensor saved = set_layer_weight(model, *l.node, reconstruct(f).to(w.scalar_type()));
  c.loss = loss();
  restore_layer_weight(model, *l.node, saved);
  return c;
}

nlohmann::json search_json(const std::vector<PlannedLayer>& layers, const SearchResult& r, double base, int64_t total0,
                           const std::string& measure_name) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& l : layers) {
    if (!searched(l)) continue;
    nlohmann::json cands = nlohmann::json::array();
    for (const auto& c : l.candidates)
      cands.push_back({{"ranks", c.ranks}, {"method", method_name(c.method)}, {"macs", c.cost.macs},
                       {"params", c.cost.params}, {"loss", c.loss}, {"rel_error", c.rel_error}});
    rows.push_back({{"scope", l.scope}, {"candidates", cands},
                    {"chosen", l.chosen ? nlohmann::json(l.chosen->ranks) : nlohmann::json("dense")}});
  }
  return {{"measure", measure_name}, {"base_loss", base}, {"loss_increase", r.loss_increase}, {"steps", r.steps}, {"budget", r.budget},
          {"total_before", total0}, {"total_after", r.total}, {"landed", static_cast<double>(r.total) / total0},
          {"fill_steps", r.fill_steps}, {"layers", rows}};
}
}  // namespace

nlohmann::json search_ranks(pipeline::RunContext& ctx, std::vector<PlannedLayer>& layers, const DecomposeOptions& o) {
  const bool by_params = o.target.params > 0;
  const std::string what = by_params ? "params" : "MACs";
  int64_t total0 = by_params ? ctx.model.num_params() : 0;
  if (!by_params)
    for (const ir::Node* n : ctx.model.graph.nodes()) total0 += ir::node_macs(*n);
  const double fraction = by_params ? o.target.params : o.target.macs;
  const auto budget = static_cast<int64_t>(fraction * static_cast<double>(total0));
  const int64_t start = cost_after_fixed(ctx.model, layers, by_params);

  std::vector<SearchLayer> search;
  std::vector<std::vector<Ranks>> cand_ranks;
  int64_t evaluations = 0;
  for (const auto& l : layers) {
    if (!searched(l)) continue;
    cand_ranks.push_back(candidate_ranks(l.shape, l.method, o.round_to, by_params));
    SearchLayer s{l.scope, dense_cost(l.shape), {}, -1};
    for (const Ranks& r : cand_ranks.back()) s.candidates.push_back({l.method, r, factor_cost(l.shape, l.method, r)});
    evaluations += static_cast<int64_t>(s.candidates.size());
    search.push_back(std::move(s));
  }
  const int64_t lowest = lowest_total(search, start, by_params);
  if (lowest > budget)
    throw InputError(o.target_where.str() + ": decompose: target " + (by_params ? "params " : "macs ") +
                     recipe::format_number(fraction) + " cannot be reached: with every searched layer at its smallest "
                     "candidate rank the model keeps " + std::to_string(lowest) + " of " + std::to_string(total0) + " " +
                     what + " (" + std::to_string(100.0 * static_cast<double>(lowest) / total0) +
                     " %); ask for more, or decompose more layers (exclude, layers)");

  CalibLoss loss(ctx.model, ctx.data, o.calib_batches);
  const double base = loss();
  train::ProgressOptions po;
  po.quiet = ctx.quiet;
  po.label = "decompose candidates";
  train::Progress progress(po, 1, evaluations);
  progress.begin_epoch(0);
  size_t k = 0;
  for (auto& l : layers) {
    if (!searched(l)) continue;
    SearchLayer& s = search[k];
    for (size_t i = 0; i < s.candidates.size(); ++i) {
      s.candidates[i] = measure_candidate(ctx.model, l, cand_ranks[k][i], o, loss);
      progress.step(loss.images(), s.candidates[i].loss);
    }
    ++k;
  }
  const SearchResult r = select_ranks(search, base, start, budget, by_params);
  k = 0;
  for (auto& l : layers) {
    if (!searched(l)) continue;
    l.candidates = search[k].candidates;
    l.chosen = search[k].chosen >= 0 ? &l.candidates[static_cast<size_t>(search[k].chosen)] : nullptr;
    ++k;
  }
  spdlog::info("decompose: target {} {}: predicted loss +{:.4f} on {:.4f}, {} {} of {} ({:.1f}%, asked {:.1f}%)", what,
               fraction, r.loss_increase, base, r.total, what, total0, 100.0 * static_cast<double>(r.total) / total0,
               100.0 * fraction);
  return search_json(layers, r, base, total0, by_params ? "params" : "macs");
}

}  // namespace mc::lowrank
