/// Dead code elimination: removes every node none of whose outputs reaches a graph output, then
/// drops store tensors that no param/constant node refers to any more.
///
///   %a = relu(%x)         %a = relu(%x)
///   %d = sigmoid(%x)  ->  return(%a)
///   return(%a)
///
/// A node with several outputs stays while any of them is live. Graph inputs are never removed.
#pragma once

namespace mc::ir {
class Model;
}

namespace mc::ir::passes {

/// Returns true when a node or a store tensor was removed.
bool dead_code_elimination(Model& model);

}  // namespace mc::ir::passes
