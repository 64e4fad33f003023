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

// The next costlier pick of a layer (dense after its costliest candidate), or -2 at dense.
int next_up(const SearchLayer& l) {
  if (l.chosen < 0) return -2;
  return l.chosen + 1 < static_cast<int>(l.candidates.size()) ? l.chosen + 1 : -1;
}

// The costliest candidate of `l` cheaper than its pick that saves at least `need`, or -2.
int down_saving(const SearchLayer& l, int64_t need, bool by_params) {
  const int64_t now = measure(cost_of(l, l.chosen), by_params);
  const int end = l.chosen < 0 ? static_cast<int>(l.candidates.size()) : l.chosen;
  for (int j = end - 1; j >= 0; --j)
    if (now - measure(l.candidates[static_cast<size_t>(j)].cost, by_params) >= need) return j;
  return -2;
}

// One exchange at the budget: a layer one step up (Move up) and, where that overshoots the budget,
// another layer down to its costliest candidate that brings the total back within it (Move down,
// layer == up.layer when none is needed). The `shortlist` ups and, for each, the `shortlist`
// downs that look cheapest by the losses measured alone are measured on the whole model; the best
// pair is taken if it lowers the loss. Returns whether one was taken.
bool exchange(std::vector<SearchLayer>& layers, SearchModel& model, int64_t budget, const SearchSettings& st,
              SearchResult& r) {
  std::vector<Move> ups = moves_up(layers, r.base_loss, st.by_params, std::numeric_limits<int64_t>::max());
  for (auto it = ups.begin(); it != ups.end();)  // one step up only
    it = it->to != next_up(layers[it->layer]) ? ups.erase(it) : std::next(it);
  const size_t nu = std::min(std::max<size_t>(st.shortlist, 1), ups.size());
  std::partial_sort(ups.begin(), ups.begin() + static_cast<std::ptrdiff_t>(nu), ups.end(),
                    [](const Move& a, const Move& b) { return a.guess < b.guess; });
  Move best_up, best_down;
  double best_loss = r.loss;
  for (size_t u = 0; u < nu; ++u) {
    const Move& up = ups[u];
    const int64_t need = r.total + up.delta - budget;
    std::vector<Move> downs;
    for (size_t b = 0; b < layers.size(); ++b) {
      if (b == up.layer && need > 0) continue;
      const int j = need > 0 ? down_saving(layers[b], need, st.by_params) : -2;
      if (need > 0 && j == -2) continue;
      if (need <= 0) {
        downs.push_back({up.layer, layers[up.layer].chosen, 0, 0.0});  // the up move alone fits
        break;
      }
      const SearchLayer& l = layers[b];
      const int64_t delta = measure(l.candidates[static_cast<size_t>(j)].cost, st.by_params) - measure(cost_of(l, l.chosen), st.by_params);
      downs.push_back({b, j, delta, (loss_of(l, j, r.base_loss) - loss_of(l, l.chosen, r.base_loss)) / static_cast<double>(-delta)});
    }
    const size_t nd = std::min(std::max<size_t>(st.shortlist, 1), downs.size());
    std::partial_sort(downs.begin(), downs.begin() + static_cast<std::ptrdiff_t>(nd), downs.end(),
                      [](const Move& a, const Move& b) { return a.guess < b.guess; });
    const int was = layers[up.layer].chosen;
    model.set(up.layer, up.to);
    layers[up.layer].chosen = up.to;
    for (size_t d = 0; d < nd; ++d) {
      const double loss = model.loss_with(downs[d].layer, downs[d].to);
      ++r.evaluations;
      if (loss < best_loss) best_loss = loss, best_up = up, best_down = downs[d];
    }
    model.set(up.layer, was);
    layers[up.layer].chosen = was;
  }
  if (!(best_loss < r.loss)) return false;
  model.set(best_up.layer, best_up.to);
  layers[best_up.layer].chosen = best_up.to;
  model.set(best_down.layer, best_down.to);
  layers[best_down.layer].chosen = best_down.to;
  r.total += best_up.delta + best_down.delta;
  r.loss = best_loss;
  return true;
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
  while (r.reached && r.exchanges < settings.max_exchanges && exchange(layers, model, budget, settings, r)) ++r.exchanges;
  return r;
}

}  // namespace mc::lowrank
