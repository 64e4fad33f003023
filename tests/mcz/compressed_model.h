// Test models for the .mcz tests: zoo models pruned by magnitude and rounded to a few values per
// layer with plain LibTorch ops (no technique folder's code), as Deep Compression's pruning and
// weight sharing would leave them.
#pragma once
#include <ATen/ATen.h>

#include <cstring>
#include <string>

#include "frontend/frontend.h"
#include "ir/model.h"

namespace mc::test {

/// Zeroes the `sparsity` fraction of smallest |w| of a weight, then rounds each kept value to the
/// nearest of `levels` shared values (the kept values' quantiles at evenly spaced probabilities,
/// as a density-initialised k-means would place them), keeping zeros at zero.
inline void prune_and_round(at::Tensor& w, double sparsity, int levels) {
  at::Tensor flat = w.abs().flatten();
  int64_t k = static_cast<int64_t>(sparsity * static_cast<double>(flat.numel()));
  at::Tensor keep = at::ones_like(w, at::kBool);
  if (k > 0) keep = w.abs() > std::get<0>(flat.kthvalue(k));
  at::Tensor kept = w.masked_select(keep);
  if (kept.numel() == 0) {
    w = at::zeros_like(w);
    return;
  }
  at::Tensor centers = at::quantile(kept, at::linspace(0, 1, levels));
  at::Tensor nearest = (w.reshape({-1, 1}) - centers.reshape({1, -1})).abs().argmin(1);
  at::Tensor q = centers.index_select(0, nearest).reshape(w.sizes());
  w = at::where(keep, q, at::zeros_like(w));
}

/// A zoo model with every conv2d/linear weight pruned and rounded (sparsity 0: rounded only).
inline ir::Model compressed_zoo(const std::string& name, double sparsity, int levels, uint64_t seed = 5) {
  frontend::ZooOptions o;
  o.input_shape = {1, 1, 28, 28};
  o.seed = seed;
  ir::Model m = frontend::build_zoo(name, o);
  for (auto& [k, t] : m.tensors)
    if (t.dim() >= 2 && k.size() > 7 && k.compare(k.size() - 7, 7, ".weight") == 0) prune_and_round(t, sparsity, levels);
  return m;
}

/// True when both tensors have the same dtype, shape and bytes (so -0.0 != +0.0 and NaN == NaN).
inline bool bit_identical(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  at::Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

}  // namespace mc::test
