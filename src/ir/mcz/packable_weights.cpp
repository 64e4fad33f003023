#include "ir/mcz/packable_weights.h"

#include <set>

namespace mc::ir::mcz {

namespace {
const Node* param_of(const Value* v) {
  const Node* p = v ? v->producer() : nullptr;
  return p && p->op() == "param" ? p : nullptr;
}
}  // namespace

std::vector<PackableWeight> packable_weights(const Model& m) {
  std::vector<PackableWeight> out;
  std::set<std::string> seen;
  for (const Node* n : m.graph.nodes()) {
    const std::string& op = n->op();
    std::vector<const Node*> params;
    if ((op == "conv2d" || op == "linear") && n->inputs().size() >= 2) params.push_back(param_of(n->inputs()[1]));
    if (op == "matmul" && n->inputs().size() == 2) params = {param_of(n->inputs()[0]), param_of(n->inputs()[1])};
    for (const Node* p : params) {
      if (!p) continue;
      const std::string& name = p->attrs().s("name");
      auto it = m.tensors.find(name);
      if (it == m.tensors.end() || (op == "matmul" && it->second.dim() != 2)) continue;
      if (seen.insert(name).second) out.push_back({name, n->scope().empty() ? name : n->scope(), op == "conv2d"});
    }
  }
  return out;
}

}  // namespace mc::ir::mcz
