#include "ir/mcz/packable_weights.h"

#include <set>

#include "ir/weight_param.h"

namespace mc::ir::mcz {

std::vector<PackableWeight> packable_weights(const Model& m) {
  std::vector<PackableWeight> out;
  std::set<std::string> seen;
  for (const Node* n : m.graph.nodes()) {
    const Node* p = weight_param(*n);
    if (!p) continue;
    const std::string& name = p->attrs().s("name");
    auto it = m.tensors.find(name);
    if (it == m.tensors.end() || (n->op() == "matmul" && it->second.dim() != 2)) continue;
    if (seen.insert(name).second) out.push_back({name, n->scope().empty() ? name : n->scope(), n->op() == "conv2d"});
  }
  return out;
}

}  // namespace mc::ir::mcz
