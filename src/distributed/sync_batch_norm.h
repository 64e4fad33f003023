// Synchronised BatchNorm (torch.nn.SyncBatchNorm) for data-parallel training: the batch statistics
// of a training forward are those of the global batch (every rank's samples), and the backward is
// the gradient of that global normalisation.
//
// Forward: per channel, the sum and sum of squares of x (in float64) and the sample count are
// all-reduced (one collective); mean = sum / N, var = sumsq / N - mean^2 (biased, for normalising),
// running statistics updated as at::batch_norm does (unbiased var N / (N - 1)).
// Backward (SyncBatchNorm's): sum_dy and sum_dy_xmu over the local samples give the local gradients
// of weight and bias (the gradient all-reduce averages them like any parameter's); their sums over
// all ranks (one collective) give
//   dx = weight * invstd * (dy - sum_dy / N - (x - mean) * invstd^2 * sum_dy_xmu / N),
// the gradient of the sum of all ranks' losses, which the gradient average turns into the
// gradient of the global mean loss (as for every other parameter).
#pragma once
#include <ATen/core/Tensor.h>

#include "distributed/world.h"

namespace mc::dist {

/// Training-mode batch norm over all ranks of `world`; x is N x C x ..., weight and bias C
/// (defined), running_mean / running_var C (updated in place). Differentiable in x, weight, bias.
/// With a one-process world: the same result as at::batch_norm(training = true).
at::Tensor sync_batch_norm(World& world, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           const at::Tensor& running_mean, const at::Tensor& running_var, double momentum, double eps);

}  // namespace mc::dist
