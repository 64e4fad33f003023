/// Whole-model rank selection for a MACs or parameter target, greedy on measured losses (AIMET's
/// greedy compression-ratio selection is the anchor; the steps here are priced on the model as a
/// whole, not layer by layer).
///
///  1. Each layer gets candidate ranks: ratios 0.05, 0.10, ..., 0.95 of its maximum rank, rounded
///     up to a multiple of `round_to` (capped at the maximum), deduplicated, and only those cheaper
///     than the dense layer in the target's measure (candidate_ranks()).
///  2. The caller measures each candidate with only that layer decomposed (the loss on data.calib;
///     lowrank/calib_loss.h), the rest of the model dense: the layer's sensitivity.
///  3. select_ranks(): starting from the dense model, repeatedly take one step down (a layer to its
///     next cheaper candidate). The `shortlist` steps with the smallest loss increase per unit of
///     cost saved by the sensitivities of step 2 are measured on the model as it is now (every
///     layer at its current pick) and the one with the smallest measured increase per unit saved
///     is taken, until the model meets the budget. Then, while the total is more than `tolerance`
///     below the budget, the step up (any costlier candidate, or back to dense) that fits and buys
///     the largest measured loss decrease per unit of cost is taken, so the result lands within
///     `tolerance` of the asked cost wherever the steps are small enough.
///  4. Exchanges at the budget: one layer a step up and, where that overshoots, another down to its
///     costliest candidate that restores the budget; the `shortlist` ups (by the step-2 gain per
///     unit) times the `shortlist` downs (by the step-2 price) are measured on the whole model and
///     the best pair is taken while it lowers the loss. The descent is path-dependent: an early cut
///     that looked cheap can leave the last steps expensive, and an exchange undoes it.
///
/// Why measured on the whole model: the per-layer losses of step 2 do not add up. On the trained
/// ResNet-8 (Tucker-2, round_to 8, MACs 0.5) a descent priced by them alone scored 41.5 % top-1
/// before fine-tuning, below a uniform rank ratio at the same MACs (52.9 %); AIMET's threshold
/// selection (every layer's cheapest candidate within one loss-increase threshold) 27.2 %.
/// On the 10-epoch ResNet-8 (round_to 1) the descent alone reached calib loss 1.148 and 69.0 % top-1,
/// the exchanges 0.732 and 75.2 % (uniform ratio: 69.7 %).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "lowrank/layer_cost.h"

namespace mc::lowrank {

struct Candidate {
  ConvMethod method = ConvMethod::channel_svd;  // as applied (cp may fall back to tucker2)
  Ranks ranks;
  Cost cost;
  double loss = 0.0;       // on data.calib with only this layer decomposed
  double rel_error = 0.0;  // of the weight
  bool cp_fallback = false;  // cp was asked and ALS missed cp.max_error (method is then tucker2)
  double cp_error = -1.0;
};

struct SearchLayer {
  std::string scope;
  Cost dense;
  std::vector<Candidate> candidates;  // cheapest first (select_ranks sorts them)
  int chosen = -1;                    // index into candidates, -1 = dense
};

/// Step 1 above. `by_params`: cheaper in parameters, else in MACs.
std::vector<Ranks> candidate_ranks(const LayerShape& s, ConvMethod method, int64_t round_to, bool by_params);

/// The model as the search sees it: `loss_with(i, pick)` is the loss with layer i at candidate
/// `pick` (-1 = dense) and every other layer at the pick last `set`; `set(i, pick)` makes it current.
/// Layers start dense.
struct SearchModel {
  std::function<double(size_t layer, int pick)> loss_with;
  std::function<void(size_t layer, int pick)> set;
};

struct SearchSettings {
  bool by_params = false;  // the budget counts parameters, else MACs
  double tolerance = 0.03;  // the fill stops within this fraction below the budget
  size_t shortlist = 6;     // steps measured on the whole model per step taken
  int64_t max_exchanges = 64;  // exchanges at the budget (step 4), at most
};

struct SearchResult {
  double base_loss = 0.0;  // the dense model's
  double loss = 0.0;       // measured with every layer at its pick
  int64_t steps = 0;       // steps down taken
  int64_t evaluations = 0;  // whole-model measurements
  int64_t total = 0;        // model cost after the selection
  int64_t budget = 0;
  int64_t fill_steps = 0;  // steps up taken by the fill
  int64_t exchanges = 0;   // exchanges taken (step 4)
  bool reached = false;    // total <= budget
};

/// Step 3 above: sets `chosen` of every layer (and leaves `model` at those picks).
/// `model_total`: the cost of the whole dense model (layers not searched included); `budget`: the
/// cost asked for.
SearchResult select_ranks(std::vector<SearchLayer>& layers, SearchModel& model, int64_t model_total, int64_t budget,
                          const SearchSettings& settings);

/// The model cost with every searched layer at its cheapest candidate (the lowest reachable).
int64_t lowest_total(const std::vector<SearchLayer>& layers, int64_t model_total, bool by_params);

}  // namespace mc::lowrank
