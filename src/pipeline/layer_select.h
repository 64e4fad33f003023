// Layer selection for technique stages: which layers of a model a stage acts on, as recipes
// select them by scope glob. Every technique folder (pruning/, quantization/, lowrank/,
// sharing/, ...) uses this instead of a matcher of its own, so that one glob syntax
// (ir/scope_glob.h; README.md "Selecting layers (scope globs)") holds for every stage, and a
// glob that matches nothing is the same error everywhere.
//
//   - ScopeGlob: a glob as written in a recipe, with its file:line:col;
//     parse_scope_globs() reads `exclude: [conv1, "layer3.*"]`.
//   - GlobEntry<T> / parse_glob_map<T>(): ordered `layers: {"layer3.*": <value>}` maps, each value
//     parsed by the caller; last_match() finds the entry for a scope (later entries win).
//   - WeightLayer / find_weight_layers(): the conv2d / linear / matmul layers with a param weight;
//     weight_param() is the weight of one layer node.
//   - throw_glob_matches_nothing(), require_matches(), select_layers(): the checks every stage
//     makes when it runs (the model is unknown when a recipe is validated).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/model.h"
#include "ir/scope_glob.h"
#include "ir/weight_param.h"
#include "recipe/config_tree.h"
#include "recipe/options.h"

namespace mc::pipeline {

/// A scope glob as written in a recipe, with its location for error messages.
struct ScopeGlob {
  std::string pattern;
  recipe::Location loc;
  bool matches(const std::string& scope) const { return ir::scope_glob_match(pattern, scope); }
};

/// Parses a list of scope globs (`exclude: [conv1, "layer3.*"]`; a single string is a list of one);
/// errors (not a list, an entry that is not a non-empty string, a malformed glob) go into diag at
/// the entry's location. A null node is an empty list. `key` names the option in messages.
std::vector<ScopeGlob> parse_scope_globs(const recipe::ConfigNode& node, const std::string& key,
                                         recipe::Diagnostics& diag);

/// One entry of a `layers: {glob: value}` map.
template <class T>
struct GlobEntry {
  ScopeGlob glob;
  T value;
};

/// Parses one value of a glob map into `out`; reports errors into diag and returns false to drop
/// the entry. The second form also gets the entry's glob (for messages naming `key.glob`).
template <class T>
using GlobValueParser = std::function<bool(const recipe::ConfigNode& value, T& out, recipe::Diagnostics& diag)>;
template <class T>
using GlobEntryParser =
    std::function<bool(const ScopeGlob& glob, const recipe::ConfigNode& value, T& out, recipe::Diagnostics& diag)>;

/// The entries of a glob map in source order, each glob with its key's location; checks that the
/// node is a map (`example` completes "'key' must be a map from scope glob to ..., e.g. ...") and
/// that every glob is well-formed. A null node is empty. Used by parse_glob_map().
std::vector<std::pair<ScopeGlob, const recipe::ConfigNode*>> glob_map_entries(const recipe::ConfigNode& node,
                                                                              const std::string& key,
                                                                              recipe::Diagnostics& diag,
                                                                              const std::string& example = "");

/// Parses `layers: {"layer3.*": <value>, fc: <value>}`, keeping the order (later entries win, see
/// last_match()); each value goes through `parse`.
template <class T>
std::vector<GlobEntry<T>> parse_glob_map(const recipe::ConfigNode& node, const std::string& key,
                                         recipe::Diagnostics& diag, const GlobEntryParser<T>& parse,
                                         const std::string& example = "") {
  std::vector<GlobEntry<T>> out;
  for (const auto& [glob, value] : glob_map_entries(node, key, diag, example)) {
    T v{};
    if (parse(glob, *value, v, diag)) out.push_back({glob, std::move(v)});
  }
  return out;
}
template <class T>
std::vector<GlobEntry<T>> parse_glob_map(const recipe::ConfigNode& node, const std::string& key,
                                         recipe::Diagnostics& diag, const GlobValueParser<T>& parse,
                                         const std::string& example = "") {
  const GlobEntryParser<T> with_glob = [&](const ScopeGlob&, const recipe::ConfigNode& value, T& out,
                                           recipe::Diagnostics& d) { return parse(value, out, d); };
  return parse_glob_map<T>(node, key, diag, with_glob, example);
}

/// Index of the last entry whose glob matches `scope` (later entries win), or -1.
template <class T>
int last_match(const std::vector<GlobEntry<T>>& entries, const std::string& scope) {
  int found = -1;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].glob.matches(scope)) found = static_cast<int>(i);
  return found;
}

/// A layer whose weight is a `param`: conv2d (w: O x I/g x kh x kw), linear (w: O x I) or matmul
/// (a 2-d param operand), the weight possibly behind one `fake_quant`. `input_dim` is the weight's
/// input-channel dimension: 1 for conv2d, linear and matmul(W, x); 0 for matmul(x, W), W: K x N.
struct WeightLayer {
  std::string scope;  // module scope of the layer node ("layer1.0.conv1"); the param name if empty
  std::string op;     // conv2d | linear | matmul
  std::string param;  // name in Model::tensors
  int64_t input_dim = 1;
};

/// Every weight layer in graph order (a param used by several layers is listed once, at the first).
std::vector<WeightLayer> find_weight_layers(const ir::Model& model);

/// The param node of `layer`'s weight: input 1 of conv2d / linear, directly or through one
/// fake_quant; for matmul input 1, else input 0, when it is a 2-d param (find_weight_layers() checks
/// the tensor; here the value's inferred shape, when there is one). nullptr otherwise. Defined in
/// the core (ir/weight_param.h), which the .mcz archive shares.
using ir::weight_param;
/// The scope a layer is selected by: its module scope, or its weight's tensor name when it has none
/// (the layer must have a weight_param()).
std::string layer_scope(const ir::Node& layer);

/// Scopes of `layers`, in order.
std::vector<std::string> scopes_of(const std::vector<WeightLayer>& layers);
/// The distinct non-empty scopes of the model's nodes, in graph order (for globs over any node).
std::vector<std::string> node_scopes(const ir::Model& model);

/// "a, b, ... (N in all)": the first 12 scopes, for messages ("(none)" when empty).
std::string list_scopes(const std::vector<std::string>& scopes);

/// Throws InputError "file:line:col: <stage>: <key> glob '<p>' matches no <what>; <what>s are: a, b,
/// ... (N in all). Fix the glob or remove it.<hint>" (list_scopes() of the candidates).
[[noreturn]] void throw_glob_matches_nothing(const ScopeGlob& glob, const std::string& stage, const std::string& key,
                                             const std::string& what, const std::vector<std::string>& candidates,
                                             const std::string& hint = "");

/// Throws throw_glob_matches_nothing() for the first glob matching none of `candidates`.
void require_matches(const std::vector<ScopeGlob>& globs, const std::vector<std::string>& candidates,
                     const std::string& stage, const std::string& key, const std::string& what,
                     const std::string& hint = "");
template <class T>
void require_matches(const std::vector<GlobEntry<T>>& entries, const std::vector<std::string>& candidates,
                     const std::string& stage, const std::string& key, const std::string& what,
                     const std::string& hint = "") {
  std::vector<ScopeGlob> globs;
  for (const auto& e : entries) globs.push_back(e.glob);
  require_matches(globs, candidates, stage, key, what, hint);
}

/// A linear layer whose weight is computed by `shared_weight` from a few stored values (the `share`
/// stage: HashedNets or block-circulant). find_weight_layers() does not list it (its weight is no
/// param), so stages that change weights refuse it through refuse_shared_layers().
struct SharedLayer {
  std::string scope;   // the layer's module scope (the stored values' tensor name when it has none)
  std::string method;  // hashed | circulant
  std::string param;   // the stored values
};
std::vector<SharedLayer> find_shared_layers(const ir::Model& model);

/// InputError "<stage>: layer 'fc1' has a shared weight (hashed, from the `share` stage) ..., which
/// <stage> cannot change. Exclude it (exclude: [fc1]) or run <stage> before `share`" for the first
/// shared layer that no `exclude` glob matches. Returns `exclude` without the globs that match
/// shared layers only (they did their job; select_layers() would call them globs matching nothing).
std::vector<ScopeGlob> refuse_shared_layers(const ir::Model& model, const std::vector<ScopeGlob>& exclude,
                                            const std::string& stage);

/// A layer as stored-bits checks see it: its scope and its weight tensor's name.
struct StoredLayerRef {
  std::string scope;
  std::string tensor;
};

/// InputError "<prefix><stage>: layer 'x' is already stored at N bits (clustered or quantized by an
/// earlier stage); <advice>, or exclude it (exclude: [x])" for the first of `layers` whose weight tensor `storage_bits`
/// (RunContext::storage_bits) holds. `prefix` is the stage's "file:line:col: " or empty.
void refuse_stored_layers(const std::map<std::string, int>& storage_bits, const std::vector<StoredLayerRef>& layers,
                          const std::string& prefix, const std::string& stage, const std::string& advice);

/// The layers of `all` (in order) that match some include glob (every layer when there is none)
/// and no exclude glob. InputError when `all` is empty, when a glob matches none of `all`
/// (throw_glob_matches_nothing(), keys `include_key` / `exclude_key`), or when nothing is left (at
/// the first glob's location). `what` names the layers in messages ("prunable layer").
std::vector<WeightLayer> select_layers(const std::vector<WeightLayer>& all, const std::vector<ScopeGlob>& include,
                                       const std::vector<ScopeGlob>& exclude, const std::string& stage,
                                       const std::string& what = "weight layer",
                                       const std::string& include_key = "layers",
                                       const std::string& exclude_key = "exclude");

}  // namespace mc::pipeline
