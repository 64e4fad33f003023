/// Importance of channel units for structured pruning, summed over each unit's members.
///   l1 / l2    sum of |w| / sqrt(sum w^2) over the weight slices of conv/linear layers that
///              produce (dim 0) or consume (dim 1) the channel
///   fpgm       filter pruning via geometric median (He et al. 2019): the summed distance of the
///              unit's producer filters to those of the other units of its group; units near the
///              median are redundant (lowest score)
///   bn_scale   sum of |gamma| of the BatchNorms on the channel (network slimming, Liu et al.
///              2017); units without a BatchNorm score +inf (kept)
///   taylor     first-order Taylor |w * dL/dw| (Molchanov et al. 2019) over all `out`/`in` weight
///              and BatchNorm slices, with gradients accumulated on calibration batches
/// Low scores are pruned first.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "pruning/dependency_graph.h"

namespace mc::prune {

enum class Criterion { l1, l2, fpgm, bn_scale, taylor };
Criterion parse_criterion(const std::string& s);  // names as above; InputError otherwise

/// One score per unit of `group`. `grads` (tensor name -> accumulated gradient) is needed by taylor.
std::vector<double> unit_importance(const ir::Model& model, const Group& group, Criterion c,
                                    const std::map<std::string, at::Tensor>& grads = {});

}  // namespace mc::prune
