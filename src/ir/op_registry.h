// Registry of op semantics: schema, shape inference, ATen kernel and MAC count, keyed by op name.
// Techniques register their own per-op knowledge in their folders (export mappings, channel flow).
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/registry.h"
#include "ir/graph.h"

namespace mc::ir {

/// Batch normalisation with batch statistics (training), replacing at::batch_norm where set:
/// (x, weight, bias, running_mean, running_var, momentum, eps) -> y; updates the running statistics.
using BatchNormFn = std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                             const at::Tensor&, double, double)>;

struct KernelContext {
  bool training = false;  // dropout, batch-norm statistics
  c10::optional<at::Generator> generator;  // random ops draw from it (none: ATen's default generator)
  /// When set, the batch-statistics branch of batch_norm and bn_qat calls it instead of
  /// at::batch_norm (a data-parallel run's synchronised BatchNorm, dist::sync_batch_norm).
  BatchNormFn batch_norm_training;
};

using ShapeFn = std::function<std::vector<TensorType>(const Node&, const std::vector<TensorType>&)>;
using KernelFn = std::function<std::vector<at::Tensor>(const Node&, const std::vector<at::Tensor>&,
                                                       const KernelContext&)>;
using MacsFn = std::function<int64_t(const Node&, const std::vector<TensorType>& in,
                                     const std::vector<TensorType>& out)>;

struct OpDef {
  std::string name;
  int min_inputs = 0;
  int max_inputs = 0;          // -1: variadic
  int num_outputs = 1;         // -1: given by the node (e.g. split)
  std::vector<std::string> required_attrs;
  std::vector<std::string> optional_attrs;
  ShapeFn shape;
  KernelFn kernel;
  MacsFn macs;                 // empty: zero MACs
  std::string doc;
};

class OpRegistry {
 public:
  static OpRegistry& instance();
  /// Registers `def`; a name already registered is an mc::Error naming both call sites.
  void add(OpDef def, const char* file = __builtin_FILE(), int line = __builtin_LINE());
  /// Unregisters an op (tests undo their registrations with it); no-op when absent.
  void remove(const std::string& name);
  const OpDef* find(const std::string& name) const;
  /// Throws mc::Error naming the op and the node's scope when the op is unknown.
  const OpDef& get(const Node& n) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, OpDef> ops_;
  Registrants registrants_{"op"};
};

/// Registers all core ops (idempotent). Called by everything that needs the registry.
void register_core_ops();

/// Checks a node against its schema (input count, outputs, required/unknown attributes).
void check_schema(const Node& n);
/// The input and output counts only (what shape functions rely on); throws mc::Error.
void check_arity(const Node& n);

/// MACs of a node (0 for ops without a MAC count).
int64_t node_macs(const Node& n);

}  // namespace mc::ir
