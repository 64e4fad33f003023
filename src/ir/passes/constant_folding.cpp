#include "ir/passes/constant_folding.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "ir/model.h"
#include "ir/op_registry.h"
#include "ir/ops/ops.h"
#include "ir/passes/pass_util.h"

namespace mc::ir::passes {

std::vector<at::Tensor> evaluate_node(const Node& node, const std::vector<at::Tensor>& inputs) {
  register_core_ops();
  const OpDef& def = OpRegistry::instance().get(node);
  if (!def.kernel) throw Error("internal: " + node.describe() + " has no kernel to fold with");
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> outs = def.kernel(node, inputs, KernelContext{});
  for (at::Tensor& t : outs) t = t.detach().clone(at::MemoryFormat::Contiguous);  // identity/reshape may alias
  return outs;
}

namespace {

bool foldable(const Model& m, const Node& n) {
  if (is_source(n) || n.inputs().empty() || is_random_op(n.op())) return false;
  const OpDef* def = OpRegistry::instance().find(n.op());
  if (!def || !def->kernel) return false;
  for (const Value* in : n.inputs()) {
    const Node* p = in->producer();
    if (!p || p->op() != "constant" || !m.tensors.count(p->attrs().s("name"))) return false;
  }
  return true;
}

// "<scope>.const" when the node has a scope, else "const.<value name>".
std::string tensor_hint(const Node& n, size_t out) {
  if (!n.scope().empty()) return n.scope() + ".const" + (n.outputs().size() > 1 ? std::to_string(out) : "");
  return "const." + n.output(out)->name();
}

}  // namespace

bool constant_folding(Model& model) {
  register_core_ops();
  Graph& g = model.graph;
  bool changed = false;
  for (Node* n : g.nodes()) {  // a snapshot; only `n` and nodes before it are removed below
    if (!foldable(model, *n)) continue;
    std::vector<at::Tensor> ins;
    for (const Value* in : n->inputs()) ins.push_back(model.tensor(in->producer()->attrs().s("name")));
    std::vector<at::Tensor> outs = evaluate_node(*n, ins);
    spdlog::debug("constant_folding: fold {}", n->describe());
    for (size_t i = 0; i < outs.size(); ++i) {
      Attrs attrs;
      attrs.set("name", model.add_tensor(tensor_hint(*n, i), outs[i]));
      Node* c = g.insert_before(n, "constant", {}, attrs, n->scope());
      c->output()->set_type(ops::type_of(outs[i]));
      g.replace_all_uses(n->output(i), c->output());
    }
    std::vector<Node*> producers = input_producers(*n);
    g.remove_node(n);
    remove_dead_nodes(model, std::move(producers));
    changed = true;
  }
  return changed;
}

}  // namespace mc::ir::passes
