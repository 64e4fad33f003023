#include "ir/graph.h"

#include <algorithm>
#include <unordered_map>

#include "common/error.h"
#include "ir/op_registry.h"

namespace mc::ir {

std::string Node::describe() const {
  return "op '" + op_ + "'" + (scope_.empty() ? std::string() : " at scope '" + scope_ + "'");
}

Value* Graph::make_value(const std::string& name) {
  auto v = std::make_unique<Value>();
  v->name_ = name.empty() ? fresh_name() : name;
  values_.push_back(std::move(v));
  return values_.back().get();
}

std::string Graph::fresh_name(const std::string& hint) {
  for (;;) {
    std::string n = hint.empty() ? std::to_string(next_id_++) : hint;
    if (!find_value(n)) return n;
    if (!hint.empty()) return fresh_name(hint + "." + std::to_string(next_id_++));
  }
}

Value* Graph::find_value(const std::string& name) const {
  for (auto& v : values_)
    if (v->name_ == name) return v.get();
  return nullptr;
}

Value* Graph::add_input(const std::string& name, TensorType type) {
  Value* v = make_value(fresh_name(name));
  v->type_ = std::move(type);
  inputs_.push_back(v);
  return v;
}

void Graph::set_outputs(std::vector<Value*> outs) { outputs_ = std::move(outs); }
void Graph::replace_output(size_t i, Value* v) { outputs_.at(i) = v; }

Node* Graph::make_node(const std::string& op, const std::vector<Value*>& inputs, Attrs attrs,
                       const std::string& scope, size_t num_outputs, const std::vector<std::string>& names) {
  auto n = std::make_unique<Node>();
  n->op_ = op;
  n->attrs_ = std::move(attrs);
  n->scope_ = scope;
  n->inputs_ = inputs;
  for (Value* v : inputs) v->users_.push_back(n.get());
  for (size_t i = 0; i < num_outputs; ++i) {
    Value* v = make_value(i < names.size() ? fresh_name(names[i]) : fresh_name());
    v->producer_ = n.get();
    v->index_ = i;
    n->outputs_.push_back(v);
  }
  return n.release();
}

Node* Graph::add_node(const std::string& op, const std::vector<Value*>& inputs, Attrs attrs,
                      const std::string& scope, size_t num_outputs, const std::vector<std::string>& names) {
  Node* n = make_node(op, inputs, std::move(attrs), scope, num_outputs, names);
  nodes_.emplace_back(n);
  return n;
}

size_t Graph::index_of(const Node* n) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].get() == n) return i;
  throw Error("internal: node " + n->describe() + " is not in this graph");
}

Node* Graph::insert_before(Node* pos, const std::string& op, const std::vector<Value*>& inputs, Attrs attrs,
                           const std::string& scope, size_t num_outputs) {
  size_t i = index_of(pos);
  Node* n = make_node(op, inputs, std::move(attrs), scope, num_outputs, {});
  nodes_.emplace(nodes_.begin() + static_cast<std::ptrdiff_t>(i), n);
  return n;
}

Node* Graph::insert_after(Node* pos, const std::string& op, const std::vector<Value*>& inputs, Attrs attrs,
                          const std::string& scope, size_t num_outputs) {
  size_t i = index_of(pos);
  Node* n = make_node(op, inputs, std::move(attrs), scope, num_outputs, {});
  nodes_.emplace(nodes_.begin() + static_cast<std::ptrdiff_t>(i + 1), n);
  return n;
}

void Graph::drop_use(Value* v, Node* n) {
  auto it = std::find(v->users_.begin(), v->users_.end(), n);
  if (it != v->users_.end()) v->users_.erase(it);
}

void Graph::set_input(Node* n, size_t i, Value* v) {
  drop_use(n->inputs_.at(i), n);
  n->inputs_[i] = v;
  v->users_.push_back(n);
}

void Graph::set_inputs(Node* n, const std::vector<Value*>& vs) {
  for (Value* old : n->inputs_) drop_use(old, n);
  n->inputs_ = vs;
  for (Value* v : vs) v->users_.push_back(n);
}

void Graph::replace_all_uses(Value* from, Value* to) {
  if (from == to) return;
  auto users = from->users_;
  for (Node* n : users)
    for (size_t i = 0; i < n->inputs_.size(); ++i)
      if (n->inputs_[i] == from) set_input(n, i, to);
  for (auto& o : outputs_)
    if (o == from) o = to;
}

bool Graph::is_graph_output(const Value* v) const {
  return std::find(outputs_.begin(), outputs_.end(), v) != outputs_.end();
}

void Graph::remove_node(Node* n) {
  for (Value* o : n->outputs_) {
    if (!o->users_.empty() || is_graph_output(o))
      throw Error("internal: cannot remove " + n->describe() + ": its output '" + o->name_ + "' is still used");
  }
  for (Value* v : n->inputs_) drop_use(v, n);
  size_t i = index_of(n);
  for (Value* o : n->outputs_) {
    values_.erase(std::remove_if(values_.begin(), values_.end(), [&](auto& p) { return p.get() == o; }),
                  values_.end());
  }
  nodes_.erase(nodes_.begin() + static_cast<std::ptrdiff_t>(i));
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (auto& n : nodes_) out.push_back(n.get());
  return out;
}

Graph Graph::clone() const {
  Graph g;
  std::unordered_map<const Value*, Value*> map;
  for (Value* in : inputs_) {
    Value* v = g.make_value(in->name_);
    v->type_ = in->type_;
    g.inputs_.push_back(v);
    map[in] = v;
  }
  for (auto& n : nodes_) {
    std::vector<Value*> ins;
    for (Value* v : n->inputs_) ins.push_back(map.at(v));
    std::vector<std::string> names;
    for (Value* o : n->outputs_) names.push_back(o->name_);
    Node* c = g.add_node(n->op_, ins, n->attrs_, n->scope_, n->outputs_.size(), names);
    for (size_t i = 0; i < n->outputs_.size(); ++i) {
      c->outputs_[i]->type_ = n->outputs_[i]->type_;
      map[n->outputs_[i]] = c->outputs_[i];
    }
  }
  for (Value* o : outputs_) g.outputs_.push_back(map.at(o));
  g.next_id_ = next_id_;
  return g;
}

void Graph::infer_shapes() {
  register_core_ops();
  auto& reg = OpRegistry::instance();
  for (auto& n : nodes_) {
    const OpDef& def = reg.get(*n);
    check_arity(*n);  // shape functions index their inputs: a wrong count must be an error, not a crash
    std::vector<TensorType> in;
    for (Value* v : n->inputs_) {
      if (!v->type_.has_shape)
        throw Error("shape of input '" + v->name_ + "' of " + n->describe() + " is unknown");
      in.push_back(v->type_);
    }
    if (!def.shape) continue;  // param/constant types are set by the Model
    std::vector<TensorType> out;
    try {
      out = def.shape(*n, in);
    } catch (const Error& e) {
      throw Error("shape inference failed for " + n->describe() + ": " + e.what());
    }
    if (out.size() != n->outputs_.size())
      throw Error("shape inference for " + n->describe() + " gave " + std::to_string(out.size()) +
                  " outputs, node has " + std::to_string(n->outputs_.size()));
    for (size_t i = 0; i < out.size(); ++i) n->outputs_[i]->type_ = out[i];
  }
}

}  // namespace mc::ir
