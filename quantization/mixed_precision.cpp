#include "quantization/mixed_precision.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "train/evaluator.h"

namespace mc::quant {

namespace {

std::vector<int64_t> widest_first(const std::vector<int64_t>& candidates) {
  if (candidates.empty()) throw InputError("mixed precision needs at least one candidate bit-width");
  std::vector<int64_t> c = candidates;
  for (int64_t b : c)
    if (b < 2 || b > 8) throw InputError("mixed precision candidate " + std::to_string(b) + " bits is outside 2..8");
  std::sort(c.begin(), c.end(), std::greater<>());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

}  // namespace

SensitivityResult measure_sensitivity(const ir::Model& model, const QuantPlan& plan, const std::vector<int64_t>& candidates,
                                      data::DataLoader& loader, int64_t batches) {
  const std::vector<int64_t> bits = widest_first(candidates);
  SensitivityResult r;
  {
    ir::Model f = model.clone();
    train::EvalResult e = train::evaluate(f, loader, batches);
    r.float_loss = e.loss;
    r.samples = e.count;
  }
  for (const WeightQuantizer& w : plan.weights) {
    LayerSensitivity s;
    s.name = w.name;
    s.scope = w.scope.empty() ? w.name : w.scope;
    s.params = model.tensor(w.tensor).numel();
    for (int64_t b : bits) {
      QuantPlan one;
      one.weights.push_back(w);
      QuantSpec& spec = one.weights.back().spec;
      spec.bits = b;
      spec.quant_min = spec.quant_max = 0;  // the grid follows the bits
      ir::Model q = model.clone();
      insert_qdq(q, one, {});
      s.loss_increase[b] = train::evaluate(q, loader, batches).loss - r.float_loss;
    }
    spdlog::debug("mixed precision: {} ({} weights): {}", s.scope, s.params, [&] {
      std::string t;
      for (auto& [b, d] : s.loss_increase) t += std::to_string(b) + " bits +" + std::to_string(d) + " ";
      return t;
    }());
    r.layers.push_back(std::move(s));
  }
  return r;
}

BitAllocation choose_bits(const std::vector<LayerSensitivity>& layers, const std::vector<int64_t>& candidates,
                          double average_bits) {
  const std::vector<int64_t> bits = widest_first(candidates);
  if (average_bits < static_cast<double>(bits.back()) - 1e-9)
    throw InputError("mixed precision budget of " + std::to_string(average_bits) + " average bits is below the narrowest candidate (" +
                     std::to_string(bits.back()) + " bits); raise it or add a narrower candidate");
  auto loss_at = [&](const LayerSensitivity& l, int64_t b) {
    auto it = l.loss_increase.find(b);
    if (it == l.loss_increase.end())
      throw Error("mixed precision: no sensitivity of '" + l.scope + "' at " + std::to_string(b) + " bits");
    return it->second;
  };
  std::vector<size_t> at(layers.size(), 0);  // index into `bits`
  double total = 0.0, weighted = 0.0;
  for (const auto& l : layers) {
    total += static_cast<double>(l.params);
    weighted += static_cast<double>(l.params) * static_cast<double>(bits[0]);
  }
  while (total > 0 && weighted / total > average_bits + 1e-9) {
    size_t best = layers.size();
    double best_cost = std::numeric_limits<double>::infinity(), best_saved = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      if (at[i] + 1 >= bits.size() || layers[i].params == 0) continue;
      double saved = static_cast<double>(layers[i].params) * static_cast<double>(bits[at[i]] - bits[at[i] + 1]);
      double cost = (loss_at(layers[i], bits[at[i] + 1]) - loss_at(layers[i], bits[at[i]])) / saved;
      if (cost < best_cost || (cost == best_cost && saved > best_saved)) {
        best = i;
        best_cost = cost;
        best_saved = saved;
      }
    }
    if (best == layers.size()) break;  // everything at the narrowest candidate
    weighted -= best_saved;
    ++at[best];
  }
  BitAllocation a;
  for (size_t i = 0; i < layers.size(); ++i) {
    a.bits[layers[i].name] = bits[at[i]];
    a.predicted_loss_increase += loss_at(layers[i], bits[at[i]]);
  }
  a.average_bits = total > 0 ? weighted / total : 0.0;
  return a;
}

}  // namespace mc::quant
