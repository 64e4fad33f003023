#include "pruning/residual_blocks.h"

#include <algorithm>
#include <set>

#include "common/error.h"
#include "ir/op_registry.h"
#include "ir/passes/dead_code_elimination.h"

namespace mc::prune {
namespace {

bool is_leaf(const ir::Node* n) { return n->op() == "param" || n->op() == "constant"; }

/// Longest common dotted prefix of the scopes ("layer1.0.conv1", "layer1.0.bn2" -> "layer1.0").
std::string common_scope(const std::vector<const ir::Node*>& nodes) {
  std::vector<std::string> common;
  bool first = true;
  for (const ir::Node* n : nodes) {
    std::vector<std::string> parts;
    size_t start = 0;
    const std::string& s = n->scope();
    while (start <= s.size()) {
      size_t dot = s.find('.', start);
      if (dot == std::string::npos) dot = s.size();
      parts.push_back(s.substr(start, dot - start));
      start = dot + 1;
    }
    if (first) {
      common = parts, first = false;
    } else {
      size_t k = 0;
      while (k < common.size() && k < parts.size() && common[k] == parts[k]) ++k;
      common.resize(k);
    }
  }
  std::string out;
  for (const std::string& p : common) out += (out.empty() ? "" : ".") + p;
  return out;
}

/// The branch computing `out` from `skip` alone, or empty when `out` depends on anything else
/// (a graph input, a value computed outside) or when a branch value escapes the branch.
std::vector<const ir::Node*> branch_of(const ir::Graph& g, const ir::Value* out, const ir::Value* skip,
                                       const ir::Node* add) {
  std::set<const ir::Node*> branch;
  std::vector<const ir::Node*> stack;
  if (out == skip || out->producer() == nullptr) return {};
  stack.push_back(out->producer());
  bool reaches_skip = false;
  while (!stack.empty()) {
    const ir::Node* n = stack.back();
    stack.pop_back();
    if (!branch.insert(n).second) continue;
    for (const ir::Value* v : n->inputs()) {
      if (v == skip) {
        reaches_skip = true;
        continue;
      }
      if (v->producer() == nullptr) return {};  // a graph input: the branch is not a function of skip
      stack.push_back(v->producer());
    }
  }
  if (!reaches_skip) return {};
  for (const ir::Node* n : branch)
    for (const ir::Value* v : n->outputs()) {
      if (g.is_graph_output(v)) return {};
      for (const ir::Node* u : v->users())
        if (u != add && !branch.count(u)) return {};  // used outside: removing it would break that user
    }
  std::vector<const ir::Node*> ordered;
  for (const ir::Node* n : g.nodes())
    if (branch.count(n)) ordered.push_back(n);
  return ordered;
}

}  // namespace

std::vector<ResidualBlock> find_residual_blocks(const ir::Model& model) {
  ir::register_core_ops();
  const ir::Graph& g = model.graph;
  std::vector<ResidualBlock> out;
  for (const ir::Node* add : g.nodes()) {
    if (add->op() != "add" || add->inputs().size() != 2) continue;
    for (size_t skip_index : {size_t{1}, size_t{0}}) {
      const ir::Value* skip = add->input(skip_index);
      const ir::Value* res = add->input(1 - skip_index);
      if (skip->shape() != add->output()->shape() || skip->shape().empty()) continue;
      std::vector<const ir::Node*> branch = branch_of(g, res, skip, add);
      std::vector<const ir::Node*> compute;
      for (const ir::Node* n : branch)
        if (!is_leaf(n)) compute.push_back(n);
      if (compute.empty()) continue;
      ResidualBlock b;
      std::vector<const ir::Node*> scoped = compute;
      scoped.push_back(add);  // torchvision's InvertedResidual: branch in features.6.conv.*, add in features.6
      b.scope = common_scope(scoped);
      if (b.scope.empty()) b.scope = add->scope();
      b.add_value = add->output()->name();
      b.skip_value = skip->name();
      b.nodes = static_cast<int64_t>(compute.size());
      for (const ir::Node* n : compute) b.macs += ir::node_macs(*n);
      for (const ir::Node* n : branch)
        if (n->op() == "param") {
          auto it = model.tensors.find(n->attrs().s("name"));
          if (it != model.tensors.end()) b.params += it->second.numel();
        }
      out.push_back(std::move(b));
      break;
    }
  }
  return out;
}

void remove_residual_block(ir::Model& model, const ResidualBlock& block) {
  ir::Graph& g = model.graph;
  // Found again on this model: an earlier removal may have rewired the block's skip.
  std::string skip_name;
  for (const ResidualBlock& b : find_residual_blocks(model))
    if (b.add_value == block.add_value) skip_name = b.skip_value;
  ir::Value* sum = g.find_value(block.add_value);
  ir::Value* skip = skip_name.empty() ? nullptr : g.find_value(skip_name);
  if (sum == nullptr || skip == nullptr)
    throw RuntimeFailure("prune_blocks: block '" + block.scope + "' (add " + block.add_value +
                         ") is no longer a removable block of the model");
  const bool skip_is_relu = skip->producer() != nullptr && skip->producer()->op() == "relu";
  const std::vector<ir::Node*> users = sum->users();
  g.replace_all_uses(sum, skip);  // graph outputs included
  // relu(relu(x)) == relu(x): the block's closing relu now reads the skip's relu.
  if (skip_is_relu)
    for (ir::Node* u : users)
      if (u->op() == "relu" && u->input(0) == skip && !g.is_graph_output(u->output())) g.replace_all_uses(u->output(), skip);
  ir::passes::dead_code_elimination(model);  // also drops the branch's tensors
  model.infer_shapes();
  model.verify();
}

}  // namespace mc::prune
