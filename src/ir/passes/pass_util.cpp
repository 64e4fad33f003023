#include "ir/passes/pass_util.h"

#include <ATen/ATen.h>

#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "ir/op_registry.h"
#include "ir/ops/ops.h"

namespace mc::ir::passes {

std::map<std::string, int64_t> op_counts(const Graph& g) {
  std::map<std::string, int64_t> out;
  for (const Node* n : g.nodes()) ++out[n->op()];
  return out;
}

bool is_source(const Node& n) { return n.refers_to_tensor(); }

bool is_random_op(const std::string& op) { return op == "dropout" || op == "stochastic_depth"; }

std::string source_tensor_name(const Value* v) {
  if (!v || !v->producer() || !is_source(*v->producer())) return {};
  return v->producer()->attrs().s("name");
}

namespace {

// Memoised evaluation of a param/constant-only expression, with a budget of op nodes.
class StaticEvaluator {
 public:
  StaticEvaluator(const Model& m, size_t budget) : m_(m), budget_(budget) {}

  at::Tensor eval(const Value* v) {
    auto it = memo_.find(v);
    if (it != memo_.end()) return it->second;
    const Node* p = v->producer();
    if (!p) return {};  // graph input: changes from run to run
    if (is_source(*p)) {
      auto t = m_.tensors.find(p->attrs().s("name"));
      if (t == m_.tensors.end()) return {};
      return memo_[v] = t->second.detach();
    }
    if (is_random_op(p->op()) || budget_ == 0) return {};
    const OpDef* def = OpRegistry::instance().find(p->op());
    if (!def || !def->kernel) return {};
    --budget_;
    std::vector<at::Tensor> ins;
    for (const Value* in : p->inputs()) {
      at::Tensor t = eval(in);
      if (!t.defined()) return {};
      ins.push_back(t);
    }
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> outs = def->kernel(*p, ins, KernelContext{});
    for (size_t i = 0; i < outs.size() && i < p->outputs().size(); ++i) memo_[p->output(i)] = outs[i];
    return memo_[v];
  }

 private:
  const Model& m_;
  size_t budget_;
  std::unordered_map<const Value*, at::Tensor> memo_;
};

int count_tensor_refs(const Graph& g, const std::string& name) { return static_cast<int>(g.tensor_refs(name).size()); }

// Store name of the param/constant node that feeds `v` to `layer` alone: `layer` is its only use, it
// is no graph output, and no other node names the tensor. Empty otherwise.
std::string exclusive_source(const Model& m, const Value* v, const Node* layer) {
  const std::string name = source_tensor_name(v);
  if (name.empty()) return {};
  if (v->users().size() != 1 || v->users()[0] != layer || m.graph.is_graph_output(v)) return {};
  if (count_tensor_refs(m.graph, name) != 1 || !m.tensors.count(name)) return {};
  return name;
}

// `<scope>`; without a scope, the weight tensor's name less its ".weight" suffix.
std::string layer_base_name(const Node* layer, const std::string& weight_name) {
  if (!layer->scope().empty()) return layer->scope();
  const std::string suffix = ".weight";
  if (weight_name.size() > suffix.size() &&
      weight_name.compare(weight_name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return weight_name.substr(0, weight_name.size() - suffix.size());
  return weight_name.empty() ? "folded" : weight_name;
}

void set_layer_input(Model& m, Node* layer, size_t idx, const at::Tensor& t, const std::string& hint) {
  Graph& g = m.graph;
  Value* old = idx < layer->inputs().size() ? layer->input(idx) : nullptr;
  const std::string own = exclusive_source(m, old, layer);
  if (!own.empty() && old->producer()->op() == "param") {  // overwrite in place: same name, same node
    at::Tensor& slot = m.tensors[own];
    const bool grad = slot.requires_grad();
    slot = t;
    if (grad) slot.requires_grad_(true);
    return;
  }
  // A new param node right before the layer. An exclusive `constant` (a frozen weight) hands its
  // name over: it is removed first, then the new tensor takes the freed name.
  Attrs unnamed;
  unnamed.set("name", std::string());  // named below, once the old tensor is gone
  Node* p = g.insert_before(layer, "param", {}, unnamed, layer->scope());
  p->output()->set_type(ops::type_of(t));
  if (old) {
    g.set_input(layer, idx, p->output());
    remove_dead_producers(m, old);
  } else {
    std::vector<Value*> ins = layer->inputs();
    ins.push_back(p->output());
    g.set_inputs(layer, ins);
  }
  g.set_tensor_name(p, m.add_tensor(own.empty() ? hint : own, t));
}

}  // namespace

at::Tensor static_value(const Model& m, const Value* v, size_t max_nodes) {
  register_core_ops();
  return StaticEvaluator(m, max_nodes).eval(v);
}

bool erase_tensor_if_unused(Model& m, const std::string& name) {
  if (count_tensor_refs(m.graph, name) != 0) return false;
  return m.tensors.erase(name) != 0;
}

std::vector<Node*> input_producers(const Node& n) {
  std::vector<Node*> out;
  for (const Value* in : n.inputs())
    if (in->producer()) out.push_back(in->producer());
  return out;
}

int remove_dead_producers(Model& m, Value* v) {
  if (!v->producer()) return 0;
  return remove_dead_nodes(m, {v->producer()});
}

int remove_dead_nodes(Model& m, std::vector<Node*> work) {
  Graph& g = m.graph;
  std::unordered_set<Node*> removed;  // never dereferenced once in here
  int count = 0;
  while (!work.empty()) {
    Node* p = work.back();
    work.pop_back();
    if (removed.count(p)) continue;
    bool dead = true;
    for (const Value* o : p->outputs()) dead = dead && o->users().empty() && !g.is_graph_output(o);
    if (!dead) continue;
    for (Value* in : p->inputs())
      if (in->producer()) work.push_back(in->producer());
    const std::string tensor = is_source(*p) ? p->attrs().s("name") : std::string();
    g.remove_node(p);
    removed.insert(p);
    ++count;
    if (!tensor.empty()) erase_tensor_if_unused(m, tensor);
  }
  return count;
}

Value* insert_param(Model& m, Node* pos, const std::string& hint, const at::Tensor& t, const std::string& scope) {
  Attrs a;
  a.set("name", m.add_tensor(hint, t));
  Node* p = m.graph.insert_before(pos, "param", {}, a, scope);
  p->output()->set_type(ops::type_of(t));
  return p->output();
}

void infer_node_types(Node& n) {
  register_core_ops();
  const OpDef& def = OpRegistry::instance().get(n);
  check_arity(n);
  if (!def.shape) return;  // param/constant: typed from their tensors
  std::vector<TensorType> in;
  for (const Value* v : n.inputs()) {
    if (!v->type().has_shape) throw Error("shape of input '" + v->name() + "' of " + n.describe() + " is unknown");
    in.push_back(v->type());
  }
  std::vector<TensorType> out;
  try {
    out = def.shape(n, in);
  } catch (const std::exception& e) {
    throw Error("shape inference failed for " + n.describe() + ": " + first_line(e.what()));
  }
  if (out.size() != n.outputs().size())
    throw Error("shape inference for " + n.describe() + " gave " + std::to_string(out.size()) + " outputs");
  for (size_t i = 0; i < out.size(); ++i) n.output(i)->set_type(out[i]);
}

void set_layer_params(Model& m, Node* layer, const at::Tensor& weight, const at::Tensor& bias) {
  const std::string base = layer_base_name(layer, source_tensor_name(layer->input(1)));
  if (weight.defined()) set_layer_input(m, layer, 1, weight, base + ".weight");
  if (bias.defined()) set_layer_input(m, layer, 2, bias, base + ".bias");
}

}  // namespace mc::ir::passes
