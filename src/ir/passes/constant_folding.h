/// Constant folding: a node all of whose inputs come from `constant` nodes is evaluated once with
/// its kernel (eval mode) and replaced by a new `constant` node holding the result in the store.
///
///   %s = constant[name="s"]()                 %r = constant[name="scale.const"]()
///   %r = reshape[shape=[4,1,1]](%s) @scale ->  %y = mul(%x, %r)
///   %y = mul(%x, %r)
///
/// Runs in topological order, so whole constant chains collapse in one call. Skips: `param`
/// inputs (trainable weights stay trainable, so a param-only subgraph is left alone), random ops
/// (dropout, stochastic_depth), ops without a kernel. The constant nodes that fed a folded node are
/// removed when nothing else uses them (their store tensors too).
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

namespace mc::ir {
class Model;
class Node;
}  // namespace mc::ir

namespace mc::ir::passes {

/// Returns true when at least one node was folded.
bool constant_folding(Model& model);

/// Evaluates `node` on `inputs` with its registered kernel in eval mode, without autograd. The
/// results never alias the inputs (safe to store next to them).
std::vector<at::Tensor> evaluate_node(const Node& node, const std::vector<at::Tensor>& inputs);

}  // namespace mc::ir::passes
