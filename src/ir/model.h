// A Model: a graph plus the named tensors its `param` and `constant` nodes refer to.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <unordered_map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace mc::ir {

class Model {
 public:
  std::string name = "model";
  Graph graph;
  /// name -> tensor. `param` nodes refer to trainable entries, `constant` nodes to the rest
  /// (BatchNorm running statistics, folded constants).
  std::map<std::string, at::Tensor> tensors;
  /// The input preprocessing the model was trained and measured with, as a small JSON text
  /// (`{"from": ..., "transform": [{"type": "normalize", ...}]}`, written by the recipe runner from
  /// data.val; read back by `compress eval`). Empty = none recorded. Saved in the checkpoint's
  /// metadata record (covered by its CRC check).
  std::string preprocessing;

  Model() = default;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;
  /// Deep copy: graph and tensors (tensors are cloned).
  Model clone() const;

  const at::Tensor& tensor(const std::string& name) const;  // throws mc::Error naming it
  /// Names of tensors referred to by `param` nodes, in graph order.
  std::vector<std::string> param_names() const;
  int64_t num_params() const;            // elements of trainable tensors
  int64_t num_nonzero_params() const;
  /// Adds a tensor under a fresh name derived from `hint`, returns the name.
  std::string add_tensor(const std::string& hint, at::Tensor t);
  /// Removes tensors no node refers to.
  void drop_unused_tensors();
  /// Input shape of graph input `i` with dim 0 set to `batch`.
  Shape input_shape(size_t i = 0, int64_t batch = -1) const;
  /// Sets the types of `param`/`constant` outputs from the stored tensors, then infers shapes.
  void infer_shapes();
  void verify() const;

  /// Native checkpoint: `<path>` holds IR text and tensors (torch archive).
  void save(const std::string& path) const;
  static Model load(const std::string& path);

 private:
  std::unordered_map<std::string, int> last_suffix_;  // add_tensor: hint -> last ".N" given
};

}  // namespace mc::ir
