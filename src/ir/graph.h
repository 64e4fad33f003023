// The graph IR: a DAG of Nodes over Values, kept in topological order.
#pragma once
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/attr.h"
#include "ir/types.h"

namespace mc::ir {

class Node;
class Graph;

/// An SSA value: produced by exactly one node (or a graph input), used by any number of nodes.
class Value {
 public:
  const std::string& name() const { return name_; }
  const TensorType& type() const { return type_; }
  void set_type(TensorType t) { type_ = std::move(t); }
  const Shape& shape() const { return type_.shape; }
  Node* producer() const { return producer_; }  // nullptr for graph inputs
  size_t output_index() const { return index_; }
  /// Nodes that use this value, once per use (a node using it twice appears twice).
  const std::vector<Node*>& users() const { return users_; }
  bool is_graph_input() const { return producer_ == nullptr; }

 private:
  friend class Graph;
  std::string name_;
  TensorType type_;
  Node* producer_ = nullptr;
  size_t index_ = 0;
  std::vector<Node*> users_;
};

/// An operation. `op` names an entry of the op registry; `scope` is the module path it came from.
class Node {
 public:
  const std::string& op() const { return op_; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  Value* input(size_t i) const { return inputs_.at(i); }
  Value* output(size_t i = 0) const { return outputs_.at(i); }
  Attrs& attrs() { return attrs_; }
  const Attrs& attrs() const { return attrs_; }
  const std::string& scope() const { return scope_; }
  void set_scope(std::string s) { scope_ = std::move(s); }
  /// `param` or `constant`: its `name` attribute refers to a tensor of the model's store.
  bool refers_to_tensor() const { return op_ == "param" || op_ == "constant"; }
  /// "op 'conv2d' at scope 'layer1.0.conv1'" for error messages.
  std::string describe() const;

 private:
  friend class Graph;
  std::string op_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  Attrs attrs_;
  std::string scope_;
  const Graph* owner_ = nullptr;                    // the graph whose node list holds it
  std::list<std::unique_ptr<Node>>::iterator pos_;  // its place there: O(1) insert/remove
};

/// Cost model (a 20k-node graph must not be quadratic to import or optimize): find_value,
/// fresh_name, add_node, insert_before/after, remove_node and first_node are O(1) (values are
/// indexed by name, nodes live in a list and know their place in it); nodes() copies the node
/// order (O(n)), so call it once per pass, never per node.
class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph(Graph&& o) noexcept { *this = std::move(o); }
  Graph& operator=(Graph&& o) noexcept;

  /// Deep copy (values keep their names).
  Graph clone() const;

  Value* add_input(const std::string& name, TensorType type);
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  void set_outputs(std::vector<Value*> outs);
  void replace_output(size_t i, Value* v);

  /// Appends a node at the end. Output names are fresh unless given.
  Node* add_node(const std::string& op, const std::vector<Value*>& inputs, Attrs attrs = {},
                 const std::string& scope = "", size_t num_outputs = 1,
                 const std::vector<std::string>& output_names = {});
  /// Inserts a node right before `pos` (topological order is the caller's duty).
  Node* insert_before(Node* pos, const std::string& op, const std::vector<Value*>& inputs, Attrs attrs = {},
                      const std::string& scope = "", size_t num_outputs = 1);
  /// Inserts a node right after `pos`.
  Node* insert_after(Node* pos, const std::string& op, const std::vector<Value*>& inputs, Attrs attrs = {},
                     const std::string& scope = "", size_t num_outputs = 1);

  void set_input(Node* n, size_t i, Value* v);
  void set_inputs(Node* n, const std::vector<Value*>& vs);
  /// Every use of `from` (nodes and graph outputs) now uses `to`.
  void replace_all_uses(Value* from, Value* to);
  /// Removes a node whose outputs have no users and are not graph outputs.
  void remove_node(Node* n);

  /// Nodes in topological order: a snapshot (O(n)), safe to iterate while the graph changes.
  std::vector<Node*> nodes() const;
  size_t num_nodes() const { return nodes_.size(); }
  Node* first_node() const { return nodes_.empty() ? nullptr : nodes_.front().get(); }  // O(1)
  Value* find_value(const std::string& name) const;  // O(1); nullptr when absent
  bool is_graph_output(const Value* v) const;
  /// The param/constant nodes whose `name` is `tensor` (O(1): an index the graph keeps, so such a
  /// node's `name` attribute changes only through set_tensor_name; verify() checks it).
  const std::vector<Node*>& tensor_refs(const std::string& tensor) const;
  /// Points param/constant node `n` at store tensor `tensor`.
  void set_tensor_name(Node* n, const std::string& tensor);
  std::string fresh_name(const std::string& hint = "");

  /// Recomputes every value's type with the op registry's shape functions.
  void infer_shapes();
  /// Checks SSA, topological order, use lists, op schemas and shapes. Throws mc::Error.
  void verify() const;

  std::string to_string() const;
  static Graph parse(const std::string& text, const std::string& source_name = "<ir>");

  /// Nodes visited by whole-graph walks (nodes(), clone, verify, infer_shapes, to_string) since
  /// this graph was made. Tests use it to check that passes stay linear in the graph size.
  size_t node_visits() const { return node_visits_; }

 private:
  Node* make_node(const std::string& op, const std::vector<Value*>& inputs, Attrs attrs,
                  const std::string& scope, size_t num_outputs, const std::vector<std::string>& names);
  Value* make_value(const std::string& name);
  void drop_use(Value* v, Node* n);
  /// The place of `n` in nodes_; throws mc::Error when `n` belongs to another graph.
  std::list<std::unique_ptr<Node>>::iterator place_of(const Node* n) const;
  Node* link(std::list<std::unique_ptr<Node>>::iterator before, Node* n);
  void count_visits(size_t n) const { node_visits_ += n; }
  void index_tensor_ref(Node* n);
  void unindex_tensor_ref(Node* n);

  std::list<std::unique_ptr<Node>> nodes_;                     // topological order
  std::unordered_map<std::string, std::unique_ptr<Value>> values_;  // every value, by name
  std::unordered_map<std::string, std::vector<Node*>> tensor_refs_;  // param/constant nodes, by `name`
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  size_t next_id_ = 0;
  mutable size_t node_visits_ = 0;
};

}  // namespace mc::ir
