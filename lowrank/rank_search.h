/// Whole-model rank selection for a MACs or parameter target: AIMET's greedy compression-ratio
/// selection (aimet_torch `GreedyCompRatioSelectAlgo`) on per-layer candidates.
///
///  1. Each layer gets candidate ranks: ratios 0.1, 0.2, ..., 0.9 of its maximum rank, rounded up
///     to a multiple of `round_to` (capped at the maximum), deduplicated, and only those cheaper
///     than the dense layer in the target's measure (candidate_ranks()).
///  2. The caller measures each candidate with only that layer decomposed (the loss on data.calib;
///     lowrank/calib_loss.h), the rest of the model dense.
///  3. select_ranks(): starting from the dense model, repeatedly take the step down (a layer to a
///     cheaper candidate) with the smallest loss increase per unit of cost saved, until the model
///     meets the budget. AIMET instead picks, for one loss-increase threshold, every layer's cheapest
///     candidate within it; that cuts layers that save little (a 64-channel layer at 4x4 pixels) as
///     hard as those that save much, and on resnet8 (round_to 8, MACs 0.5) it lost to a uniform
///     rank ratio before fine-tuning (47.5 % vs 69.7 % top-1; the per-layer losses do not add up).
///     Then, while the total is more than `tolerance` below the budget, the step up that fits and
///     buys the largest loss decrease per unit of cost is taken, so the result lands within
///     `tolerance` of the asked cost wherever one step is small enough.
#pragma once
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

struct SearchResult {
  double loss_increase = 0.0;  // sum over layers of (candidate loss - base loss), as measured alone
  int64_t steps = 0;           // steps down taken
  int64_t total = 0;       // model cost after the selection
  int64_t budget = 0;
  int64_t fill_steps = 0;  // steps up taken by the fill
  bool reached = false;    // total <= budget
};

/// Step 3 above: sets `chosen` of every layer. `model_total`: the cost of the whole dense model
/// (layers not searched included); `budget`: the cost asked for.
SearchResult select_ranks(std::vector<SearchLayer>& layers, double base_loss, int64_t model_total, int64_t budget,
                          bool by_params, double tolerance = 0.03);

/// The model cost with every searched layer at its cheapest candidate (the lowest reachable).
int64_t lowest_total(const std::vector<SearchLayer>& layers, int64_t model_total, bool by_params);

}  // namespace mc::lowrank
