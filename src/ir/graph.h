// The graph IR: a DAG of Nodes over Values, kept in topological order.
#pragma once
#include <memory>
#include <string>
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
  /// "op 'conv2d' at scope 'layer1.0.conv1'" for error messages.
  std::string describe() const;

 private:
  friend class Graph;
  std::string op_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  Attrs attrs_;
  std::string scope_;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph(Graph&&) = default;
  Graph& operator=(Graph&&) = default;

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

  /// Nodes in topological order.
  std::vector<Node*> nodes() const;
  size_t num_nodes() const { return nodes_.size(); }
  Value* find_value(const std::string& name) const;  // nullptr when absent
  bool is_graph_output(const Value* v) const;
  std::string fresh_name(const std::string& hint = "");

  /// Recomputes every value's type with the op registry's shape functions.
  void infer_shapes();
  /// Checks SSA, topological order, use lists, op schemas and shapes. Throws mc::Error.
  void verify() const;

  std::string to_string() const;
  static Graph parse(const std::string& text, const std::string& source_name = "<ir>");

 private:
  Node* make_node(const std::string& op, const std::vector<Value*>& inputs, Attrs attrs,
                  const std::string& scope, size_t num_outputs, const std::vector<std::string>& names);
  Value* make_value(const std::string& name);
  void drop_use(Value* v, Node* n);
  size_t index_of(const Node* n) const;

  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  size_t next_id_ = 0;
};

}  // namespace mc::ir
