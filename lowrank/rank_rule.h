/// The rank rules of the decompose stage, applied to one layer's weight:
///   rank: N        the rank itself (tucker2: [r_in, r_out], or one number for both)
///   rank_ratio: r  ceil(r x the method's maximum rank) (tucker2: of C and of N separately)
///   energy: e      the smallest rank keeping a fraction e of the squared singular values of the
///                  matrix the method factors (tucker2: of each unfolding); not for cp
///   vbmf: true     EVBMF (tucker2: both unfoldings, Kim et al. 2016; linear: the weight matrix);
///                  not for channel_svd, spatial_svd, cp
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "lowrank/layer_cost.h"

namespace mc::lowrank {

struct RankRule {
  enum class Kind { none, rank, ratio, energy, vbmf };
  Kind kind = Kind::none;
  std::vector<int64_t> rank;  // Kind::rank
  double value = 0.0;         // Kind::ratio, Kind::energy
};

/// "rank", "rank_ratio", "energy", "vbmf" (the recipe key), "" for none.
std::string rule_key(RankRule::Kind k);

/// "" when `rule` applies to layers factored by `method` (linear layers: `linear` true), else why
/// not ("energy does not apply to cp (CP has no singular values); use rank or rank_ratio").
std::string rule_problem(const RankRule& rule, ConvMethod method, bool linear);

/// The ranks `rule` gives for weight `w` ([out, in] for linear layers, [N, C, kh, kw] for convs).
/// Not checked against the maximum (rank_problem() in layer_cost.h does that).
Ranks rule_ranks(const at::Tensor& w, const LayerShape& s, ConvMethod method, const RankRule& rule);

}  // namespace mc::lowrank
