#include "lowrank/rank_search.h"

#include <algorithm>
#include <limits>

#include "lowrank/rank.h"

namespace mc::lowrank {

namespace {
int64_t measure(const Cost& c, bool by_params) { return by_params ? c.params : c.macs; }

Cost cost_of(const SearchLayer& l, int pick) { return pick < 0 ? l.dense : l.candidates[pick].cost; }
double loss_of(const SearchLayer& l, int pick, double base) { return pick < 0 ? base : l.candidates[pick].loss; }

// A move of one layer to another pick: `delta` its change of the model cost (negative: cheaper),
// `guess` the loss change per unit of cost by the layer's sensitivity alone (step 2), `price` the
// same measured on the whole model.
struct Move {
  size_t layer = 0;
  int to = -1;
  int64_t delta = 0;
  double guess = 0.0, price = 0.0;
};

// The moves down: each layer to its next cheaper candidate.
std::vector<Move> moves_down(const std::vector<SearchLayer>& layers, double base, bool by_params) {
  std::vector<Move> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    const SearchLayer& l = layers[i];
    const int to = l.chosen < 0 ? static_cast<int>(l.candidates.size()) - 1 : l.chosen - 1;
    if (to < 0) continue;
    const int64_t delta = measure(cost_of(l, to), by_params) - measure(cost_of(l, l.chosen), by_params);
    if (delta >= 0) continue;
    out.push_back({i, to, delta, (loss_of(l, to, base) - loss_of(l, l.chosen, base)) / static_cast<double>(-delta)});
  }
  return out;
}

// The moves up that keep the total within the budget: each layer to any costlier pick (dense too).
std::vector<Move> moves_up(const std::vector<SearchLayer>& layers, double base, bool by_params, int64_t room) {
  std::vector<Move> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    const SearchLayer& l = layers[i];
    if (l.chosen < 0) continue;
    for (int to = l.chosen + 1; to <= static_cast<int>(l.candidates.size()); ++to) {
      const int pick = to == static_cast<int>(l.candidates.size()) ? -1 : to;
      const int64_t delta = measure(cost_of(l, pick), by_params) - measure(cost_of(l, l.chosen), by_params);
      if (delta <= 0 || delta > room) continue;
      out.push_back({i, pick, delta, (loss_of(l, pick, base) - loss_of(l, l.chosen, base)) / static_cast<double>(delta)});
    }
  }
  return out;
}

// Measures the `shortlist` moves with the lowest guessed loss per unit of cost on the whole model
// and returns the one with the lowest measured loss per unit of cost (a move down raises the loss:
// the least per unit saved; a move up lowers it: the most per unit spent). Sets `loss_after`.
Move best_measured(std::vector<Move> moves, SearchModel& model, double now, size_t shortlist, int64_t& evaluations,
                   double& loss_after) {
  const size_t n = std::min(std::max<size_t>(shortlist, 1), moves.size());
  std::partial_sort(moves.begin(), moves.begin() + static_cast<std::ptrdiff_t>(n), moves.end(),
                    [](const Move& a, const Move& b) { return a.guess < b.guess; });
  Move best;
  double best_loss = 0.0;
  for (size_t k = 0; k < n; ++k) {
    Move& m = moves[k];
    const double loss = model.loss_with(m.layer, m.to);
    ++evaluations;
    m.price = (loss - now) / static_cast<double>(std::abs(m.delta));
    if (k == 0 || m.price < best.price) best = m, best_loss = loss;
  }
  loss_after = best_loss;
  return best;
}
}  // namespace

std::vector<Ranks> candidate_ranks(const LayerShape& s, ConvMethod method, int64_t round_to, bool by_params) {
  const Ranks max = max_ranks(s, method);
  const int64_t dense = measure(dense_cost(s), by_params);
  std::vector<Ranks> out;
  for (int i = 1; i <= 19; ++i) {
    Ranks r;
    for (int64_t m : max) r.push_back(round_up_rank(ratio_rank(m, i / 20.0), std::max<int64_t>(round_to, 1), m));
    if (std::find(out.begin(), out.end(), r) != out.end()) continue;
    if (measure(factor_cost(s, method, r), by_params) < dense) out.push_back(r);
  }
  return out;
}

int64_t lowest_total(const std::vector<SearchLayer>& layers, int64_t model_total, bool by_params) {
  int64_t total = model_total;
  for (const auto& l : layers) {
    int64_t low = measure(l.dense, by_params);
    for (const auto& c : l.candidates) low = std::min(low, measure(c.cost, by_params));
    total -= measure(l.dense, by_params) - low;
  }
  return total;
}

SearchResult select_ranks(std::vector<SearchLayer>& layers, SearchModel& model, int64_t model_total, int64_t budget,
                          const SearchSettings& settings) {
  const bool by_params = settings.by_params;
  for (auto& l : layers) {
    std::stable_sort(l.candidates.begin(), l.candidates.end(), [&](const Candidate& a, const Candidate& b) {
      return measure(a.cost, by_params) < measure(b.cost, by_params);
    });
    l.chosen = -1;
  }
  SearchResult r;
  r.budget = budget;
  r.total = model_total;
  r.reached = r.total <= budget;
  if (layers.empty()) return r;
  r.base_loss = r.loss = model.loss_with(0, -1);
  r.evaluations = 1;
  const auto take = [&](const Move& m, double loss) {
    model.set(m.layer, m.to);
    layers[m.layer].chosen = m.to;
    r.total += m.delta;
    r.loss = loss;
  };
  while (r.total > budget) {
    const std::vector<Move> down = moves_down(layers, r.base_loss, by_params);
    if (down.empty()) break;
    double loss = 0.0;
    const Move m = best_measured(down, model, r.loss, settings.shortlist, r.evaluations, loss);
    take(m, loss);
    ++r.steps;
  }
  r.reached = r.total <= budget;
  while (r.reached && static_cast<double>(r.total) < (1.0 - settings.tolerance) * static_cast<double>(budget)) {
    std::vector<Move> up = moves_up(layers, r.base_loss, by_params, budget - r.total);
    if (up.empty()) break;
    double loss = 0.0;
    const Move m = best_measured(std::move(up), model, r.loss, settings.shortlist, r.evaluations, loss);
    take(m, loss);
    ++r.fill_steps;
  }
  return r;
}

}  // namespace mc::lowrank
