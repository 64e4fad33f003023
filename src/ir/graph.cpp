#include "ir/graph.h"

#include <algorithm>
#include <unordered_map>

#include "common/error.h"
#include "ir/op_registry.h"

namespace mc::ir {

std::string Node::describe() const {
  return "op '" + op_ + "'" + (scope_.empty() ? std::string() : " at scope '" + scope_ + "'");
}

Graph& Graph::operator=(Graph&& o) noexcept {
  nodes_ = std::move(o.nodes_);
  values_ = std::move(o.values_);
  tensor_refs_ = std::move(o.tensor_refs_);
  inputs_ = std::move(o.inputs_);
  outputs_ = std::move(o.outputs_);
  next_id_ = o.next_id_;
  node_visits_ = o.node_visits_;
  for (auto& n : nodes_) n->owner_ = this;  // list iterators stay valid across a move
  return *this;
}

Value* Graph::make_value(const std::string& name) {
  auto v = std::make_unique<Value>();
  v->name_ = name.empty() ? fresh_name() : name;
  std::string key = v->name_;
  auto [it, added] = values_.emplace(std::move(key), std::move(v));
  if (!added) throw Error("internal: value name '" + name + "' is already used in this graph");
  return it->second.get();
}

std::string Graph::fresh_name(const std::string& hint) {
  for (;;) {
    std::string n = hint.empty() ? std::to_string(next_id_++) : hint;
    if (!find_value(n)) return n;
    if (!hint.empty()) return fresh_name(hint + "." + std::to_string(next_id_++));
  }
}

Value* Graph::find_value(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : it->second.get();
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

Node* Graph::link(std::list<std::unique_ptr<Node>>::iterator before, Node* n) {
  n->owner_ = this;
  n->pos_ = nodes_.emplace(before, n);
  index_tensor_ref(n);
  return n;
}

void Graph::index_tensor_ref(Node* n) {
  if (n->refers_to_tensor()) tensor_refs_[n->attrs_.s("name", "")].push_back(n);
}

void Graph::unindex_tensor_ref(Node* n) {
  if (!n->refers_to_tensor()) return;
  auto it = tensor_refs_.find(n->attrs_.s("name", ""));
  if (it == tensor_refs_.end()) throw Error("internal: " + n->describe() + " is missing from the tensor index");
  auto& refs = it->second;
  refs.erase(std::remove(refs.begin(), refs.end(), n), refs.end());
  if (refs.empty()) tensor_refs_.erase(it);
}

const std::vector<Node*>& Graph::tensor_refs(const std::string& tensor) const {
  static const std::vector<Node*> none;
  auto it = tensor_refs_.find(tensor);
  return it == tensor_refs_.end() ? none : it->second;
}

void Graph::set_tensor_name(Node* n, const std::string& tensor) {
  place_of(n);
  if (!n->refers_to_tensor()) throw Error("internal: set_tensor_name on " + n->describe() + ", not a param/constant");
  unindex_tensor_ref(n);
  n->attrs_.set("name", tensor);
  index_tensor_ref(n);
}

std::list<std::unique_ptr<Node>>::iterator Graph::place_of(const Node* n) const {
  if (n->owner_ != this) throw Error("internal: node " + n->describe() + " is not in this graph");
  return n->pos_;
}

Node* Graph::add_node(const std::string& op, const std::vector<Value*>& inputs, Attrs attrs,
                      const std::string& scope, size_t num_outputs, const std::vector<std::string>& names) {
  return link(nodes_.end(), make_node(op, inputs, std::move(attrs), scope, num_outputs, names));
}

Node* Graph::insert_before(Node* pos, const std::string& op, const std::vector<Value*>& inputs, Attrs attrs,
                           const std::string& scope, size_t num_outputs) {
  auto at = place_of(pos);
  return link(at, make_node(op, inputs, std::move(attrs), scope, num_outputs, {}));
}

Node* Graph::insert_after(Node* pos, const std::string& op, const std::vector<Value*>& inputs, Attrs attrs,
                          const std::string& scope, size_t num_outputs) {
  auto at = std::next(place_of(pos));
  return link(at, make_node(op, inputs, std::move(attrs), scope, num_outputs, {}));
}

void Graph::drop_use(Value* v, Node* n) {
  // From the back: removals run users-first (dead-code elimination), so the use is usually last.
  auto it = std::find(v->users_.rbegin(), v->users_.rend(), n);
  if (it != v->users_.rend()) v->users_.erase(std::next(it).base());
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
  // One pass over the use list (set_input per use would search it each time: quadratic in uses).
  std::vector<Node*> users = std::move(from->users_);
  from->users_.clear();
  for (Node* n : users)
    for (Value*& in : n->inputs_)
      if (in == from) {
        in = to;
        to->users_.push_back(n);
      }
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
  auto at = place_of(n);
  unindex_tensor_ref(n);
  for (Value* v : n->inputs_) drop_use(v, n);
  for (Value* o : n->outputs_) values_.erase(o->name_);
  nodes_.erase(at);
}

std::vector<Node*> Graph::nodes() const {
  count_visits(nodes_.size());
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (auto& n : nodes_) out.push_back(n.get());
  return out;
}

Graph Graph::clone() const {
  count_visits(nodes_.size());
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
  count_visits(nodes_.size());
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
    } catch (const std::exception& e) {  // ATen's checks in meta-tensor shape functions (reshape to an impossible shape)
      throw Error("shape inference failed for " + n->describe() + ": " + first_line(e.what()));
    }
    if (out.size() != n->outputs_.size())
      throw Error("shape inference for " + n->describe() + " gave " + std::to_string(out.size()) +
                  " outputs, node has " + std::to_string(n->outputs_.size()));
    for (size_t i = 0; i < out.size(); ++i) n->outputs_[i]->type_ = out[i];
  }
}

}  // namespace mc::ir
