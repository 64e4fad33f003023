/// Removes nodes that pass their input through unchanged in an inference graph:
///   identity, dropout and stochastic_depth (identities in eval mode: this pass is for inference
///   graphs; run it after training), reshape to the input's own shape (for every batch size),
///   flatten of a single dim, permute by the identity permutation.
///
///   %h = conv2d(%x, %w)         %h = conv2d(%x, %w)
///   %d = dropout[p=0.5](%h) ->  %y = relu(%h)
///   %y = relu(%d)
///
/// Users of the removed node's output read its input instead; a graph output is rewired the same
/// way (it becomes the input value, with that value's name). Kept: a pass-through whose input is a
/// graph input and whose output is a graph output (the graph would return its own input), and a
/// reshape whose shapes are unknown.
#pragma once
#include <cstdint>
#include <vector>

#include "ir/types.h"

namespace mc::ir {
class Model;
class Node;
}  // namespace mc::ir

namespace mc::ir::passes {

/// Returns true when at least one node was removed.
bool remove_identities(Model& model);

/// True when reshape[shape=`target`] of an input of shape `in` (dim 0 = batch) gives the input's
/// own shape at every batch size: same rank, and per dim i: 0 (copy), -1 (inferred; then it can
/// only be in[i]), or in[i] with i > 0; a literal batch size in[0] only when there is no -1.
bool is_identity_reshape(const Shape& in, const std::vector<int64_t>& target);

/// True when `n` passes its input 0 through unchanged at inference (see the list above).
bool is_pass_through(const Node& n);

}  // namespace mc::ir::passes
