#include "pruning/prunable.h"

#include <fnmatch.h>

#include <cstdlib>

#include <set>

#include "common/error.h"
#include "recipe/options.h"

namespace mc::prune {

namespace {
/// The param behind a value: the value itself or the input of a fake_quant producing it.
const ir::Node* param_producer(const ir::Value* v) {
  const ir::Node* p = v->producer();
  if (p && p->op() == "fake_quant") p = p->input(0)->producer();
  return p && p->op() == "param" ? p : nullptr;
}

std::string scopes_list(const std::vector<PrunableWeight>& ws) {
  std::string s;
  for (size_t i = 0; i < ws.size() && i < 12; ++i) s += (i ? ", " : "") + ws[i].scope;
  if (ws.size() > 12) s += ", ... (" + std::to_string(ws.size()) + " in all)";
  return s;
}
}  // namespace

std::vector<PrunableWeight> find_prunable_weights(const ir::Model& model) {
  std::vector<PrunableWeight> out;
  std::set<std::string> seen;
  for (const ir::Node* n : model.graph.nodes()) {
    const std::string& op = n->op();
    const ir::Node* p = nullptr;
    int64_t input_dim = 1;
    if ((op == "conv2d" || op == "linear") && n->inputs().size() >= 2) {
      p = param_producer(n->input(1));
    } else if (op == "matmul" && n->inputs().size() == 2) {
      // x @ W (W: K x N, input features along dim 0) or W @ x (W: O x I, along dim 1).
      if ((p = param_producer(n->input(1)))) input_dim = 0;
      else p = param_producer(n->input(0));
      if (p && model.tensor(p->attrs().s("name")).dim() != 2) p = nullptr;
    }
    if (!p) continue;
    const std::string& name = p->attrs().s("name");
    if (!seen.insert(name).second) continue;
    out.push_back({n->scope().empty() ? name : n->scope(), op, name, input_dim});
  }
  return out;
}

bool glob_match(const std::string& pattern, const std::string& scope) {
  return fnmatch(pattern.c_str(), scope.c_str(), 0) == 0;
}

std::vector<ScopeGlob> parse_globs(const recipe::ConfigNode& node, const std::string& key, recipe::Diagnostics& diag) {
  std::vector<ScopeGlob> out;
  if (node.is_null()) return out;
  if (!node.is_seq()) {
    diag.error(node.loc(), "'" + key + "' must be a list of scope globs, e.g. [conv1, fc]");
    return out;
  }
  for (const auto& item : node.items()) {
    if (!item.is_scalar() || item.value().empty())
      diag.error(item.loc(), "'" + key + "' entries must be scope globs (strings), e.g. \"layer1.*\"");
    else
      out.push_back({item.value(), item.loc()});
  }
  return out;
}

std::vector<LayerOverride> parse_overrides(const recipe::ConfigNode& node, const std::string& key,
                                           recipe::Diagnostics& diag) {
  std::vector<LayerOverride> out;
  if (node.is_null()) return out;
  if (!node.is_map()) {
    diag.error(node.loc(), "'" + key + "' must map scope globs to sparsities, e.g. {\"layer3.*\": 0.95}");
    return out;
  }
  for (const auto& [glob, value] : node.entries()) {
    const std::string& text = value.value();
    double s = 0;
    std::string why = value.is_scalar() ? recipe::parse_number(text, &s) : "a number";
    if (!why.empty()) {
      diag.error(value.loc(), "'" + key + "." + glob + "' must be a sparsity (" + why + " in [0, 1)), got '" + text + "'");
      continue;
    }
    if (!(s >= 0.0 && s < 1.0)) {
      diag.error(value.loc(), "'" + key + "." + glob + "' = " + text +
                                  " is out of range: a sparsity is the fraction of weights set to zero, in [0, 1)");
      continue;
    }
    out.push_back({{glob, node.key_loc(glob)}, s});
  }
  return out;
}

std::vector<PrunableWeight> select_weights(const std::vector<PrunableWeight>& all, const std::vector<ScopeGlob>& exclude,
                                           const std::string& stage) {
  if (all.empty())
    throw InputError(stage + ": the model has no prunable layer (conv2d, linear or matmul with a param weight)");
  for (const auto& g : exclude) {
    bool any = false;
    for (const auto& w : all) any = any || glob_match(g.pattern, w.scope);
    if (!any)
      throw InputError(g.loc.str() + ": " + stage + ": exclude glob '" + g.pattern +
                       "' matches no prunable layer; prunable scopes are: " + scopes_list(all) +
                       ". Fix the glob or remove it.");
  }
  std::vector<PrunableWeight> out;
  for (const auto& w : all) {
    bool excluded = false;
    for (const auto& g : exclude) excluded = excluded || glob_match(g.pattern, w.scope);
    if (!excluded) out.push_back(w);
  }
  if (out.empty())
    throw InputError(exclude.front().loc.str() + ": " + stage +
                     ": the exclude globs leave no layer to prune; remove some of them");
  return out;
}

int find_override(const PrunableWeight& w, const std::vector<LayerOverride>& overrides) {
  int found = -1;
  for (size_t i = 0; i < overrides.size(); ++i)
    if (glob_match(overrides[i].glob.pattern, w.scope)) found = static_cast<int>(i);
  return found;
}

void check_overrides_match(const std::vector<PrunableWeight>& weights, const std::vector<LayerOverride>& overrides,
                           const std::string& stage) {
  for (const auto& o : overrides) {
    bool any = false;
    for (const auto& w : weights) any = any || glob_match(o.glob.pattern, w.scope);
    if (!any)
      throw InputError(o.glob.loc.str() + ": " + stage + ": layers glob '" + o.glob.pattern +
                       "' matches no prunable layer (after exclusions); prunable scopes are: " + scopes_list(weights) +
                       ". Fix the glob or remove it.");
  }
}

}  // namespace mc::prune
