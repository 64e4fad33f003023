/// Physical channel removal: the pruned model is a smaller dense model.
///
/// Given the dependency graph of `model` and the units to remove, every member slice of those
/// units is dropped with index_select (producer weights' dim 0 and biases, consumer weights'
/// dim 1, BatchNorm parameters and statistics, per-channel constants), node attributes that
/// encode channel counts are rewritten by the op's channel rule (depthwise `groups`, `split`
/// sizes, reshape shapes), shapes are re-inferred and the graph verified.
///   conv1[16,3,3,3] -> relu -> conv2[8,16,3,3]   remove units {2, 5}:
///   conv1[14,3,3,3] -> relu -> conv2[8,14,3,3]
/// Removal is exact when the removed channels output exactly 0 (e.g. their `out` slices are
/// zero: see zero_units), since every consumer then ignored them anyway.
#pragma once
#include <cstdint>
#include <set>

#include "pruning/dependency_graph.h"

namespace mc::prune {

struct RemovalSummary {
  int64_t units = 0;    // channels (units) removed
  int64_t tensors = 0;  // tensors shrunk
};

/// Removes `units` (canonical unit ids of `graph`, which must describe `model`). Throws InputError
/// when a unit is fixed or unknown.
RemovalSummary remove_channels(ir::Model& model, const DependencyGraph& graph, const std::set<int64_t>& units);

/// Zeroes the `out` slices of `units` (weights, biases, BatchNorm scale and shift), so that these
/// channels output exactly 0 while the model keeps its shape. For tests and for masks.
void zero_units(ir::Model& model, const DependencyGraph& graph, const std::set<int64_t>& units);

}  // namespace mc::prune
