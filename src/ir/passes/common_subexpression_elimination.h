/// Common subexpression elimination: two nodes with the same op, attributes and input values
/// compute the same thing, so the later one is dropped and its uses read the earlier one. This
/// covers `param`/`constant` nodes that name the same store tensor (their only attribute).
///
///   %a = relu(%x)         %a = relu(%x)
///   %b = relu(%x)     ->  %y = add(%a, %a)
///   %y = add(%a, %b)
///
/// Scopes are ignored (the surviving node keeps its own). Never merged: random ops (dropout,
/// stochastic_depth: two masks differ in training) and batch_norm (updates its running statistics
/// in training, once per node).
#pragma once

namespace mc::ir {
class Model;
}

namespace mc::ir::passes {

/// Returns true when at least one node was merged away.
bool common_subexpression_elimination(Model& model);

}  // namespace mc::ir::passes
