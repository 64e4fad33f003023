#include "ir/passes/common_subexpression_elimination.h"

#include <spdlog/spdlog.h>

#include <map>
#include <tuple>

#include "ir/model.h"
#include "ir/passes/pass_util.h"

namespace mc::ir::passes {

namespace {
// What makes two nodes interchangeable. Inputs compare by identity (the Value they read).
using Key = std::tuple<std::string, std::map<std::string, Attr>, std::vector<const Value*>, size_t>;

Key key_of(const Node& n) {
  return Key(n.op(), n.attrs().all(), std::vector<const Value*>(n.inputs().begin(), n.inputs().end()),
             n.outputs().size());
}

bool mergeable(const Node& n) { return !is_random_op(n.op()) && n.op() != "batch_norm"; }
}  // namespace

bool common_subexpression_elimination(Model& model) {
  Graph& g = model.graph;
  std::map<Key, Node*> seen;
  bool changed = false;
  // Topological order: a node's inputs are already canonical when it is looked up, so chains of
  // duplicates collapse in one sweep. Only the node being visited is removed.
  for (Node* n : g.nodes()) {
    if (!mergeable(*n)) continue;
    auto [it, inserted] = seen.emplace(key_of(*n), n);
    if (inserted) continue;
    Node* keep = it->second;
    spdlog::debug("common_subexpression_elimination: {} duplicates {}", n->describe(), keep->describe());
    for (size_t i = 0; i < n->outputs().size(); ++i) g.replace_all_uses(n->output(i), keep->output(i));
    g.remove_node(n);
    changed = true;
  }
  return changed;
}

}  // namespace mc::ir::passes
