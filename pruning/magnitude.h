/// Unstructured magnitude pruning: the weights of smallest |w| become zero.
///
///   layer-wise: each weight loses round(s * numel) elements, its own smallest |w|;
///   global:     one threshold over all selected weights together, round(s * total) elements
///               (torch.nn.utils.prune.global_unstructured with L1Unstructured: topk of |w| over
///               the concatenated weights, smallest first).
/// Counts round half to even, as Python's round() in torch.nn.utils.prune. Masks are bool tensors
/// of the weight's shape, true = keep. Biases and BatchNorm tensors are never touched.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "ir/model.h"
#include "pipeline/layer_select.h"

namespace mc::prune {

/// Number of elements pruned at `sparsity` out of `numel`: round(sparsity * numel), half to even.
int64_t prune_count(int64_t numel, double sparsity);

/// Keep-mask of `w` with the prune_count(numel, sparsity) smallest |w| dropped.
at::Tensor magnitude_mask(const at::Tensor& w, double sparsity);

/// Keep-masks of `ws` with one threshold: the prune_count(total, sparsity) smallest |w| over all of
/// them are dropped.
std::vector<at::Tensor> global_magnitude_masks(const std::vector<at::Tensor>& ws, double sparsity);

/// Sparsity per selected weight: `layer[i] >= 0` prunes weights[i] alone to that sparsity; the
/// weights with `layer[i] < 0` share one global threshold at `global`.
struct SparsityTargets {
  std::vector<double> layer;
  double global = 0.0;
};

/// Masks (param name -> keep mask) for the model's current weights.
std::map<std::string, at::Tensor> magnitude_masks(const ir::Model& model,
                                                  const std::vector<pipeline::WeightLayer>& weights,
                                                  const SparsityTargets& targets);

/// Multiplies each named parameter by its mask, in place (the tensors stay the optimizer's).
void apply_masks(ir::Model& model, const std::map<std::string, at::Tensor>& masks);

/// Fraction of zeros in a tensor.
double sparsity_of(const at::Tensor& t);

}  // namespace mc::prune
