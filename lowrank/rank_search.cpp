#include "lowrank/rank_search.h"

#include <algorithm>
#include <limits>

#include "lowrank/rank.h"

namespace mc::lowrank {

namespace {
int64_t measure(const Cost& c, bool by_params) { return by_params ? c.params : c.macs; }

Cost cost_of(const SearchLayer& l, int pick) { return pick < 0 ? l.dense : l.candidates[pick].cost; }
double loss_of(const SearchLayer& l, int pick, double base) { return pick < 0 ? base : l.candidates[pick].loss; }

// Cheapest candidate with loss <= base + t (candidates are sorted cheapest first), or -1.
int pick_at(const SearchLayer& l, double limit) {
  for (size_t i = 0; i < l.candidates.size(); ++i)
    if (l.candidates[i].loss <= limit) return static_cast<int>(i);
  return -1;
}

int64_t total_at(const std::vector<SearchLayer>& layers, double limit, int64_t model_total, bool by_params) {
  int64_t total = model_total;
  for (const auto& l : layers) total -= measure(l.dense, by_params) - measure(cost_of(l, pick_at(l, limit)), by_params);
  return total;
}

// One fill step: the step up that fits and buys the most loss per unit of cost; false if none fits.
bool fill_step(std::vector<SearchLayer>& layers, double base, int64_t& total, int64_t budget, bool by_params) {
  int best = -1;
  double best_gain = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < layers.size(); ++i) {
    const SearchLayer& l = layers[i];
    if (l.chosen < 0) continue;
    const int next = l.chosen + 1 < static_cast<int>(l.candidates.size()) ? l.chosen + 1 : -1;
    const int64_t extra = measure(cost_of(l, next), by_params) - measure(cost_of(l, l.chosen), by_params);
    if (total + extra > budget) continue;
    const double gain = (loss_of(l, l.chosen, base) - loss_of(l, next, base)) / static_cast<double>(std::max<int64_t>(extra, 1));
    if (gain > best_gain) best_gain = gain, best = static_cast<int>(i);
  }
  if (best < 0) return false;
  SearchLayer& l = layers[static_cast<size_t>(best)];
  const int next = l.chosen + 1 < static_cast<int>(l.candidates.size()) ? l.chosen + 1 : -1;
  total += measure(cost_of(l, next), by_params) - measure(cost_of(l, l.chosen), by_params);
  l.chosen = next;
  return true;
}
}  // namespace

std::vector<Ranks> candidate_ranks(const LayerShape& s, ConvMethod method, int64_t round_to, bool by_params) {
  const Ranks max = max_ranks(s, method);
  const int64_t dense = measure(dense_cost(s), by_params);
  std::vector<Ranks> out;
  for (int i = 1; i <= 9; ++i) {
    Ranks r;
    for (int64_t m : max) r.push_back(round_up_rank(ratio_rank(m, i / 10.0), std::max<int64_t>(round_to, 1), m));
    if (std::find(out.begin(), out.end(), r) != out.end()) continue;
    if (measure(factor_cost(s, method, r), by_params) < dense) out.push_back(r);
  }
  return out;
}

int64_t lowest_total(const std::vector<SearchLayer>& layers, int64_t model_total, bool by_params) {
  return total_at(layers, std::numeric_limits<double>::infinity(), model_total, by_params);
}

namespace {
// The cheapest-per-loss step down of one layer from its current pick: to any cheaper candidate,
// the one with the smallest loss increase per unit of cost saved. Returns false when none is cheaper.
bool best_step_down(const SearchLayer& l, double base, bool by_params, int& to, double& price) {
  const int64_t now = measure(cost_of(l, l.chosen), by_params);
  const double loss_now = loss_of(l, l.chosen, base);
  bool any = false;
  const int end = l.chosen < 0 ? static_cast<int>(l.candidates.size()) : l.chosen;  // cheaper ones come first
  for (int j = end - 1; j >= 0; --j) {  // nearest first: on equal prices the smaller step wins
    const int64_t saved = now - measure(l.candidates[j].cost, by_params);
    if (saved <= 0) continue;
    const double p = (l.candidates[j].loss - loss_now) / static_cast<double>(saved);
    if (!any || p < price) any = true, price = p, to = j;
  }
  return any;
}
}  // namespace

SearchResult select_ranks(std::vector<SearchLayer>& layers, double base_loss, int64_t model_total, int64_t budget,
                          bool by_params, double tolerance) {
  for (auto& l : layers) {
    std::stable_sort(l.candidates.begin(), l.candidates.end(), [&](const Candidate& a, const Candidate& b) {
      return measure(a.cost, by_params) < measure(b.cost, by_params);
    });
    l.chosen = -1;
  }
  SearchResult r;
  r.budget = budget;
  r.total = model_total;
  // Descend from the dense model: each step takes the layer whose step down costs the least loss
  // per unit of cost saved, until the budget is met (or no layer can go lower).
  while (r.total > budget) {
    int layer = -1, to = -1;
    double price = 0.0;
    for (size_t i = 0; i < layers.size(); ++i) {
      int t = -1;
      double p = 0.0;
      if (best_step_down(layers[i], base_loss, by_params, t, p) && (layer < 0 || p < price))
        layer = static_cast<int>(i), to = t, price = p;
    }
    if (layer < 0) break;
    SearchLayer& l = layers[static_cast<size_t>(layer)];
    r.total -= measure(cost_of(l, l.chosen), by_params) - measure(l.candidates[static_cast<size_t>(to)].cost, by_params);
    l.chosen = to;
    ++r.steps;
  }
  r.reached = r.total <= budget;
  while (r.reached && static_cast<double>(r.total) < (1.0 - tolerance) * static_cast<double>(budget) &&
         fill_step(layers, base_loss, r.total, budget, by_params))
    ++r.fill_steps;
  for (const auto& l : layers) r.loss_increase += loss_of(l, l.chosen, base_loss) - base_loss;
  return r;
}

}  // namespace mc::lowrank
