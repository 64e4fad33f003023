#include "ir/passes/dead_code_elimination.h"

#include <spdlog/spdlog.h>

#include <unordered_set>

#include "ir/model.h"

namespace mc::ir::passes {

bool dead_code_elimination(Model& model) {
  Graph& g = model.graph;
  // Liveness: walk backwards from the graph outputs (nodes are in topological order, so one
  // reverse sweep sees every user before its producers).
  std::unordered_set<const Value*> live(g.outputs().begin(), g.outputs().end());
  std::vector<Node*> dead;
  const std::vector<Node*> nodes = g.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node* n = *it;
    bool used = false;
    for (const Value* o : n->outputs()) used = used || live.count(o);
    if (!used) {
      dead.push_back(n);  // reverse topological order: users first
      continue;
    }
    for (const Value* in : n->inputs()) live.insert(in);
  }
  for (Node* n : dead) {
    spdlog::debug("dead_code_elimination: remove {}", n->describe());
    g.remove_node(n);
  }
  const size_t before = model.tensors.size();
  model.drop_unused_tensors();
  return !dead.empty() || model.tensors.size() != before;
}

}  // namespace mc::ir::passes
