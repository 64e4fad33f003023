#include "pipeline/layer_select.h"

#include <set>

#include "common/error.h"

namespace mc::pipeline {

namespace {

/// "file:line:col: " or "" when the location is unknown.
std::string at(const recipe::Location& loc) {
  const std::string s = loc.str();
  return s.empty() ? s : s + ": ";
}

/// Reports a malformed glob into diag; true when it is well-formed.
bool check_glob(const ScopeGlob& g, const std::string& key, recipe::Diagnostics& diag) {
  const std::string problem = ir::scope_glob_problem(g.pattern);
  if (problem.empty()) return true;
  diag.error(g.loc, "'" + key + "' glob '" + g.pattern + "': " + problem);
  return false;
}

}  // namespace

std::vector<ScopeGlob> parse_scope_globs(const recipe::ConfigNode& node, const std::string& key,
                                         recipe::Diagnostics& diag) {
  std::vector<ScopeGlob> out;
  if (node.is_null()) return out;
  if (!node.is_seq() && !node.is_scalar()) {
    diag.error(node.loc(), "'" + key + "' must be a list of scope globs, e.g. [conv1, \"layer3.*\"]");
    return out;
  }
  const std::vector<recipe::ConfigNode> one = node.is_scalar() ? std::vector<recipe::ConfigNode>{node}
                                                                : std::vector<recipe::ConfigNode>{};
  for (const auto& item : node.is_scalar() ? one : node.items()) {
    if (!item.is_scalar() || item.value().empty()) {
      diag.error(item.loc(), "'" + key + "' entries must be scope globs (strings), e.g. \"layer1.*\"");
      continue;
    }
    ScopeGlob g{item.value(), item.loc()};
    if (check_glob(g, key, diag)) out.push_back(std::move(g));
  }
  return out;
}

std::vector<std::pair<ScopeGlob, const recipe::ConfigNode*>> glob_map_entries(const recipe::ConfigNode& node,
                                                                              const std::string& key,
                                                                              recipe::Diagnostics& diag,
                                                                              const std::string& example) {
  std::vector<std::pair<ScopeGlob, const recipe::ConfigNode*>> out;
  if (node.is_null()) return out;
  if (!node.is_map()) {
    diag.error(node.loc(), "'" + key + "' must be a map from scope glob to " +
                               (example.empty() ? std::string("a value, e.g. {\"layer3.*\": ...}") : example));
    return out;
  }
  for (const auto& [pattern, value] : node.entries()) {
    ScopeGlob g{pattern, node.key_loc(pattern)};
    if (pattern.empty())
      diag.error(g.loc, "'" + key + "' has an empty scope glob; give a glob such as \"layer1.*\"");
    else if (check_glob(g, key, diag))
      out.emplace_back(std::move(g), &value);
  }
  return out;
}

std::string layer_scope(const ir::Node& layer) {
  return layer.scope().empty() ? weight_param(layer)->attrs().s("name") : layer.scope();
}

std::vector<WeightLayer> find_weight_layers(const ir::Model& model) {
  std::vector<WeightLayer> out;
  std::set<std::string> seen;
  for (const ir::Node* n : model.graph.nodes()) {
    const ir::Node* p = weight_param(*n);
    if (!p) continue;
    const std::string& name = p->attrs().s("name");
    if (n->op() == "matmul" && model.tensor(name).dim() != 2) continue;
    if (!seen.insert(name).second) continue;
    const int64_t input_dim = n->op() == "matmul" && ir::param_producer(n->input(1)) == p ? 0 : 1;
    out.push_back({layer_scope(*n), n->op(), name, input_dim});
  }
  return out;
}

std::vector<SharedLayer> find_shared_layers(const ir::Model& model) {
  std::vector<SharedLayer> out;
  for (const ir::Node* n : model.graph.nodes()) {
    if (n->op() != "linear" || n->inputs().size() < 2) continue;
    const ir::Node* sw = n->input(1)->producer();
    if (!sw || sw->op() != "shared_weight") continue;
    const ir::Node* p = sw->input(0)->producer();
    const std::string param = p && p->refers_to_tensor() ? p->attrs().s("name") : sw->input(0)->name();
    out.push_back({n->scope().empty() ? param : n->scope(), sw->attrs().s("method"), param});
  }
  return out;
}

std::vector<ScopeGlob> refuse_shared_layers(const ir::Model& model, const std::vector<ScopeGlob>& exclude,
                                            const std::string& stage) {
  const std::vector<SharedLayer> shared = find_shared_layers(model);
  for (const SharedLayer& l : shared) {
    bool excluded = false;
    for (const ScopeGlob& g : exclude) excluded = excluded || g.matches(l.scope);
    if (excluded) continue;
    throw InputError(stage + ": layer '" + l.scope + "' has a shared weight (" + l.method +
                     ", from the `share` stage: computed from the stored values '" + l.param +
                     "' through a fixed index), which " + stage + " cannot change. Exclude it (exclude: [" +
                     l.scope + "]) or run " + stage + " before `share`");
  }
  const std::vector<WeightLayer> weights = find_weight_layers(model);
  std::vector<ScopeGlob> kept;
  for (const ScopeGlob& g : exclude) {
    bool on_shared = false, on_weight = false;
    for (const SharedLayer& l : shared) on_shared = on_shared || g.matches(l.scope);
    for (const WeightLayer& w : weights) on_weight = on_weight || g.matches(w.scope);
    if (on_weight || !on_shared) kept.push_back(g);
  }
  return kept;
}

void refuse_stored_layers(const std::map<std::string, int>& storage_bits, const std::vector<StoredLayerRef>& layers,
                          const std::string& prefix, const std::string& stage, const std::string& advice) {
  for (const StoredLayerRef& l : layers) {
    auto it = storage_bits.find(l.tensor);
    if (it == storage_bits.end()) continue;
    throw InputError(prefix + stage + ": layer '" + l.scope + "' is already stored at " + std::to_string(it->second) +
                     " bits (clustered or quantized by an earlier stage); " + advice + ", or exclude it (exclude: [" +
                     l.scope + "])");
  }
}

std::vector<std::string> scopes_of(const std::vector<WeightLayer>& layers) {
  std::vector<std::string> out;
  for (const auto& l : layers) out.push_back(l.scope);
  return out;
}

std::vector<std::string> node_scopes(const ir::Model& model) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const ir::Node* n : model.graph.nodes())
    if (!n->scope().empty() && seen.insert(n->scope()).second) out.push_back(n->scope());
  return out;
}

std::string list_scopes(const std::vector<std::string>& scopes) {
  std::string list;
  for (size_t i = 0; i < scopes.size() && i < 12; ++i) list += (i ? ", " : "") + scopes[i];
  if (scopes.size() > 12) list += ", ... (" + std::to_string(scopes.size()) + " in all)";
  return scopes.empty() ? "(none)" : list;
}

void throw_glob_matches_nothing(const ScopeGlob& glob, const std::string& stage, const std::string& key,
                                const std::string& what, const std::vector<std::string>& candidates,
                                const std::string& hint) {
  throw InputError(at(glob.loc) + stage + ": " + key + " glob '" + glob.pattern + "' matches no " + what + "; " +
                   what + "s are: " + list_scopes(candidates) + ". Fix the glob or remove it." + hint);
}

void require_matches(const std::vector<ScopeGlob>& globs, const std::vector<std::string>& candidates,
                     const std::string& stage, const std::string& key, const std::string& what,
                     const std::string& hint) {
  for (const ScopeGlob& g : globs) {
    bool any = false;
    for (const std::string& s : candidates) any = any || g.matches(s);
    if (!any) throw_glob_matches_nothing(g, stage, key, what, candidates, hint);
  }
}

std::vector<WeightLayer> select_layers(const std::vector<WeightLayer>& all, const std::vector<ScopeGlob>& include,
                                       const std::vector<ScopeGlob>& exclude, const std::string& stage,
                                       const std::string& what, const std::string& include_key,
                                       const std::string& exclude_key) {
  if (all.empty())
    throw InputError(stage + ": the model has no " + what + " (conv2d, linear or matmul with a param weight)");
  const std::vector<std::string> scopes = scopes_of(all);
  require_matches(include, scopes, stage, include_key, what);
  require_matches(exclude, scopes, stage, exclude_key, what);
  auto any_match = [](const std::vector<ScopeGlob>& globs, const std::string& scope) {
    for (const ScopeGlob& g : globs)
      if (g.matches(scope)) return true;
    return false;
  };
  std::vector<WeightLayer> out;
  for (const WeightLayer& l : all)
    if ((include.empty() || any_match(include, l.scope)) && !any_match(exclude, l.scope)) out.push_back(l);
  if (out.empty()) {
    const ScopeGlob& first = include.empty() ? exclude.front() : include.front();
    throw InputError(at(first.loc) + stage + ": " +
                     (include.empty() ? "the " + exclude_key + " globs leave no " + what
                                      : "every " + what + " the " + include_key + " globs select is excluded by " +
                                            exclude_key) +
                     "; remove some of the " + exclude_key + " globs");
  }
  return out;
}

}  // namespace mc::pipeline
