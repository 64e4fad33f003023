// The decompose stage's `target:` path: candidates per layer, each measured on data.calib with
// only that layer decomposed, then select_ranks() (lowrank/rank_search.h).
#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <map>
#include <tuple>

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

// The model as the search sees it: each searched layer's stored weight is swapped in place for the
// reconstruction of a candidate (the layer stays dense; its output equals the factor chain's up to
// float rounding), and swapped back from a kept copy of the dense weight. Reconstructions are
// kept, by layer, method and ranks, while they fit in kKeptBytes (so the whole-model steps do not
// repeat CP's ALS), and recomputed (deterministically) otherwise.
class SwappedModel {
 public:
  static constexpr int64_t kKeptBytes = int64_t{512} << 20;

  SwappedModel(ir::Model& model, std::vector<const PlannedLayer*> layers, const DecomposeOptions& o, CalibLoss& loss)
      : model_(model), layers_(std::move(layers)), cp_{o.cp.max_iters, o.cp.max_error, o.round_to}, loss_(loss) {
    for (const PlannedLayer* l : layers_) dense_.push_back(layer_weight(model_, *l->node).clone());
  }
  ~SwappedModel() {
    for (size_t i = 0; i < layers_.size(); ++i) set_layer_weight(model_, *layers_[i]->node, dense_[i]);
  }

  /// Layer i factored with its planned method at `ranks`, measured with every other layer dense.
  Candidate measure_alone(size_t i, const Ranks& ranks) {
    const PlannedLayer& l = *layers_[i];
    const Factored f = factorize(dense_[i], l.shape, l.method, ranks, cp_);
    Candidate c;
    c.method = f.method;
    c.ranks = f.ranks;
    c.cost = factor_cost(l.shape, f.method, f.ranks);
    c.rel_error = f.rel_error;
    c.cp_fallback = f.cp_fallback;
    c.cp_error = f.cp_error;
    const at::Tensor w = keep(i, c, reconstruct(f).to(dense_[i].scalar_type()));
    set_layer_weight(model_, *l.node, w);
    c.loss = loss_();
    set_layer_weight(model_, *l.node, dense_[i]);
    return c;
  }

  /// The search's view over `search` (its candidates as measured by measure_alone).
  SearchModel view(const std::vector<SearchLayer>& search) {
    current_.assign(layers_.size(), -1);
    return {[this, &search](size_t i, int pick) {
              put(search, i, pick);
              const double v = loss_();
              put(search, i, current_[i]);
              return v;
            },
            [this, &search](size_t i, int pick) {
              put(search, i, pick);
              current_[i] = pick;
            }};
  }

 private:
  using Key = std::tuple<size_t, ConvMethod, Ranks>;

  at::Tensor keep(size_t i, const Candidate& c, at::Tensor w) {
    const auto bytes = static_cast<int64_t>(w.nbytes());
    if (kept_bytes_ + bytes <= kKeptBytes) kept_.emplace(Key{i, c.method, c.ranks}, w), kept_bytes_ += bytes;
    return w;
  }
  void put(const std::vector<SearchLayer>& search, size_t i, int pick) {
    if (pick < 0) {
      set_layer_weight(model_, *layers_[i]->node, dense_[i]);
      return;
    }
    const Candidate& c = search[i].candidates[static_cast<size_t>(pick)];
    const auto it = kept_.find(Key{i, c.method, c.ranks});
    set_layer_weight(model_, *layers_[i]->node,
                     it != kept_.end() ? it->second
                                       : reconstruct(factorize(dense_[i], layers_[i]->shape, c.method, c.ranks, cp_))
                                             .to(dense_[i].scalar_type()));
  }

  ir::Model& model_;
  std::vector<const PlannedLayer*> layers_;
  CpSettings cp_;
  CalibLoss& loss_;
  std::vector<at::Tensor> dense_;
  std::vector<int> current_;
  std::map<Key, at::Tensor> kept_;
  int64_t kept_bytes_ = 0;
};

nlohmann::json search_json(const std::vector<PlannedLayer>& layers, const SearchResult& r, int64_t total0,
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
  return {{"measure", measure_name}, {"base_loss", r.base_loss}, {"loss", r.loss}, {"steps", r.steps},
          {"evaluations", r.evaluations}, {"budget", r.budget},
          {"total_before", total0}, {"total_after", r.total}, {"landed", static_cast<double>(r.total) / total0},
          {"fill_steps", r.fill_steps}, {"exchanges", r.exchanges}, {"layers", rows}};
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

  std::vector<const PlannedLayer*> searched_layers;
  for (const auto& l : layers)
    if (searched(l)) searched_layers.push_back(&l);
  CalibLoss loss(ctx.model, ctx.data, o.calib_batches);
  SwappedModel swapped(ctx.model, searched_layers, o, loss);
  train::ProgressOptions po;
  po.quiet = ctx.quiet;
  po.label = "decompose candidates";
  train::Progress progress(po, 1, evaluations);
  progress.begin_epoch(0);
  for (size_t k = 0; k < search.size(); ++k)
    for (size_t i = 0; i < search[k].candidates.size(); ++i) {
      search[k].candidates[i] = swapped.measure_alone(k, cand_ranks[k][i]);
      progress.step(loss.images(), search[k].candidates[i].loss);
    }
  spdlog::info("decompose: choosing ranks on the whole model ({} layers, {} candidates measured alone)", search.size(),
               evaluations);
  SearchModel view = swapped.view(search);
  SearchSettings settings;
  settings.by_params = by_params;
  const SearchResult r = select_ranks(search, view, start, budget, settings);
  size_t k = 0;
  for (auto& l : layers) {
    if (!searched(l)) continue;
    l.candidates = search[k].candidates;
    l.chosen = search[k].chosen >= 0 ? &l.candidates[static_cast<size_t>(search[k].chosen)] : nullptr;
    ++k;
  }
  spdlog::info("decompose: target {} {}: calib loss {:.4f} (dense {:.4f}) after {} model evaluations, {} {} of {} "
               "({:.1f}%, asked {:.1f}%)", what, fraction, r.loss, r.base_loss, r.evaluations, r.total, what, total0, 100.0 * static_cast<double>(r.total) / total0,
               100.0 * fraction);
  return search_json(layers, r, total0, by_params ? "params" : "macs");
}

}  // namespace mc::lowrank
