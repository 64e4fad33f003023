// Re-estimation of BatchNorm running statistics ("adaptive BatchNorm", Li et al. 2020, EagleEye):
// after a structural change (a block removed, channels pruned, a layer decomposed) the running
// mean/var no longer describe the inputs the BatchNorms see; a few forwards in training mode
// replace them, which predicts the accuracy after fine-tuning far better than the stale ones.
#pragma once
#include <cstdint>

#include "data/loader.h"
#include "ir/model.h"

namespace mc::train {

/// Replaces the running mean/var of every batch_norm (and bn_qat) node of `model` by their
/// cumulative average over the first `max_batches` batches of `loader` (epoch 0; all when 0):
/// forwards in training mode without autograd, each BatchNorm using momentum 1/k at its k-th
/// batch, as torch.nn.BatchNorm2d(momentum=None) does. Dropout and other random ops run as in
/// training. Weights are untouched. Returns the batches used (0 when the model has no
/// BatchNorm: nothing is run then); throws InputError when the loader yields no batch.
int64_t recalibrate_batch_norm(ir::Model& model, data::DataLoader& loader, int64_t max_batches);

}  // namespace mc::train
