/// Rank choices from singular values: by kept energy and by a fraction of the maximum rank.
/// (The stage's target-MACs search and sensitivity come on top of these.)
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace mc::lowrank {

/// Smallest r with  sum_{i < r} s_i^2  >=  energy * sum_i s_i^2  (s: singular values, descending,
/// 1-d). energy in (0, 1]; energy >= 1 gives s.numel() (full rank, also when trailing s_i are 0,
/// so that rounding in the cumulative sum can never drop a component). At least 1. The sums are
/// in float64; the comparison allows 1e-12 relative slack, so that an energy equal to a partial
/// sum (s = {3, 1}: energy 0.9 = 9 / 10) picks that r (1) and not r + 1 through rounding.
int64_t energy_rank(const at::Tensor& singular_values, double energy);

/// r = ceil(ratio * max_rank), clamped to [1, max_rank]; ratio in (0, 1]. The product is
/// rounded to 1e-9 first so that e.g. 0.1 * 30 gives 3, not 4.
int64_t ratio_rank(int64_t max_rank, double ratio);

/// r rounded up to a multiple of `to` (round_to), capped at max_rank.
int64_t round_up_rank(int64_t r, int64_t to, int64_t max_rank);

}  // namespace mc::lowrank
