#include "lowrank/rank.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace mc::lowrank {

int64_t energy_rank(const at::Tensor& singular_values, double energy) {
  if (!singular_values.defined() || singular_values.dim() != 1 || singular_values.numel() == 0)
    throw Error("energy_rank: needs a non-empty 1-d tensor of singular values");
  if (!(energy > 0.0 && energy <= 1.0)) throw Error("energy_rank: energy must be in (0, 1]");
  const int64_t n = singular_values.numel();
  if (energy >= 1.0) return n;
  const at::Tensor e = singular_values.detach().to(at::kDouble).square();
  const double total = e.sum().item<double>();
  if (total <= 0.0) return 1;  // a zero weight: every rank keeps all of its (zero) energy
  const at::Tensor cum = e.cumsum(0);
  const double need = energy * total * (1.0 - 1e-12);
  // cum is non-decreasing: the first index reaching `need`, + 1.
  const int64_t below = (cum < need).sum().item<int64_t>();
  return std::min(n, below + 1);
}

int64_t ratio_rank(int64_t max_rank, double ratio) {
  if (max_rank < 1) throw Error("ratio_rank: max_rank must be >= 1");
  if (!(ratio > 0.0 && ratio <= 1.0)) throw Error("ratio_rank: ratio must be in (0, 1]");
  const double x = std::round(ratio * static_cast<double>(max_rank) * 1e9) / 1e9;
  return std::clamp(static_cast<int64_t>(std::ceil(x)), int64_t{1}, max_rank);
}

int64_t round_up_rank(int64_t r, int64_t to, int64_t max_rank) { return std::min(max_rank, (r + to - 1) / to * to); }

}  // namespace mc::lowrank
