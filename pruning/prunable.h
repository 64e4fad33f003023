/// Which weights unstructured pruning acts on, and how recipes select them by scope glob.
///
/// A prunable weight is the `param` weight of a conv2d (w: O x I/g x kh x kw), linear (w: O x I)
/// or matmul (a 2-d param operand) node, possibly behind a `fake_quant` node. Biases, BatchNorm
/// parameters and every other tensor are never prunable. `input_dim` is the weight's input-channel
/// dimension (where N:M groups lie): 1 for conv2d and linear, 0 for matmul(x, W) with W: K x N,
/// 1 for matmul(W, x).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/model.h"
#include "recipe/config_tree.h"
#include "recipe/options.h"
#include "recipe/options.h"

namespace mc::prune {

struct PrunableWeight {
  std::string scope;   // module scope of the consuming node ("layer1.0.conv1"); param name if empty
  std::string op;      // conv2d | linear | matmul
  std::string param;   // name in Model::tensors
  int64_t input_dim = 1;
};

/// Every prunable weight of the model in graph order (a param used by several nodes appears once).
std::vector<PrunableWeight> find_prunable_weights(const ir::Model& model);

/// Shell-style glob over a whole scope ('*' also matches dots): "layer3.*", "*conv1", "fc".
bool glob_match(const std::string& pattern, const std::string& scope);

/// A glob as written in a recipe, with its location for error messages.
struct ScopeGlob {
  std::string pattern;
  recipe::Location loc;
};
/// A per-layer sparsity override (`layers: {"layer3.*": 0.95}`).
struct LayerOverride {
  ScopeGlob glob;
  double sparsity = 0.0;
};

/// Parses `exclude:` (a list of globs); errors into diag. A null node is an empty list.
std::vector<ScopeGlob> parse_globs(const recipe::ConfigNode& node, const std::string& key, recipe::Diagnostics& diag);
/// Parses `layers:` (a map glob -> sparsity in [0, 1)); errors into diag. A null node is empty.
std::vector<LayerOverride> parse_overrides(const recipe::ConfigNode& node, const std::string& key,
                                           recipe::Diagnostics& diag);

/// The weights not matched by any exclude glob. Throws InputError at the glob's location when a glob
/// matches no prunable weight (listing the prunable scopes), or when nothing prunable is left.
std::vector<PrunableWeight> select_weights(const std::vector<PrunableWeight>& all, const std::vector<ScopeGlob>& exclude,
                                           const std::string& stage);
/// Index into `overrides` of the last override matching `w` (later entries win), or -1.
int find_override(const PrunableWeight& w, const std::vector<LayerOverride>& overrides);
/// Throws InputError at the glob's location when an override matches none of `weights`.
void check_overrides_match(const std::vector<PrunableWeight>& weights, const std::vector<LayerOverride>& overrides,
                           const std::string& stage);

}  // namespace mc::prune
