#include "lowrank/decompose_options.h"

#include "common/error.h"
#include "recipe/read_map.h"

namespace mc::lowrank {

using recipe::Spec;

namespace {
const std::vector<std::string> kMethods{"channel_svd", "spatial_svd", "tucker2", "cp"};
}  // namespace

ConvMethod method_or(const std::string& name, ConvMethod dflt) {
  for (size_t i = 0; i < kMethods.size(); ++i)
    if (kMethods[i] == name) return static_cast<ConvMethod>(i);
  return dflt;
}

ConvMethod parse_method(const std::string& name) {
  for (size_t i = 0; i < kMethods.size(); ++i)
    if (kMethods[i] == name) return static_cast<ConvMethod>(i);
  throw Error("unknown decomposition method '" + name + "'");
}

void RankRuleOptions::visit(recipe::Visitor& v) {
  // The echo writes only the rule that was given, so that it validates again.
  const bool echo = recipe::is_writer(v);
  if (!echo || !rank.empty())
    v.field("rank", rank, "the rank (tucker2: [r_in, r_out] or one number for both; cp: the CP rank R)");
  if (!echo || rank_ratio > 0)
    v.field("rank_ratio", rank_ratio, "rank = ceil(ratio x the method's maximum rank), in (0, 1]");
  if (!echo || energy > 0)
    v.field("energy", energy, "smallest rank keeping this fraction of the squared singular values, in (0, 1] "
            "(not cp)");
  if (!echo || vbmf) v.field("vbmf", vbmf, "ranks by EVBMF (tucker2 convs, linear layers)");
}

RankRule RankRuleOptions::check(const recipe::ConfigNode& node, const std::string& what,
                                recipe::Diagnostics& diag) const {
  RankRule r;
  std::string first;
  auto take = [&](const char* key, RankRule::Kind kind) {
    if (!first.empty()) {
      diag.error(node.key_loc(key), what + ": two rank rules at once ('" + first + "' and '" + key +
                                        "'); give one of rank, rank_ratio, energy, vbmf");
      return;
    }
    first = key;
    r.kind = kind;
  };
  auto unit = [&](const char* key, double x) {
    if (!(x > 0.0 && x <= 1.0))
      diag.error(node.find(key)->loc(), what + "." + key + " must be in (0, 1], got " + recipe::format_number(x));
  };
  if (node.find("rank")) {
    take("rank", RankRule::Kind::rank);
    r.rank = rank;
    for (int64_t x : rank)
      if (x < 1) diag.error(node.find("rank")->loc(), what + ".rank must be at least 1, got " + std::to_string(x));
    if (rank.empty() || rank.size() > 2)
      diag.error(node.find("rank")->loc(), what + ".rank is one number, or [r_in, r_out] for tucker2");
  }
  if (node.find("rank_ratio")) {
    take("rank_ratio", RankRule::Kind::ratio);
    unit("rank_ratio", rank_ratio);
    r.value = rank_ratio;
  }
  if (node.find("energy")) {
    take("energy", RankRule::Kind::energy);
    unit("energy", energy);
    r.value = energy;
  }
  if (node.find("vbmf") && vbmf) take("vbmf", RankRule::Kind::vbmf);
  return r;
}

void TargetOptions::visit(recipe::Visitor& v) {
  const bool echo = recipe::is_writer(v);
  if (!echo || macs > 0) v.field("macs", macs, "fraction of the model's MACs to keep, in (0, 1)");
  if (!echo || params > 0) v.field("params", params, "fraction of the model's parameters to keep, in (0, 1)");
}

void CpSection::visit(recipe::Visitor& v) {
  v.field("max_iters", max_iters, "ALS sweeps at most", Spec::range(1, 100000));
  v.field("max_error", max_error, "relative weight error above which a layer falls back to tucker2 at the same MACs",
          Spec::range(0, 1));
}

void DecomposeOptions::visit(recipe::Visitor& v) {
  v.field("method", method, "conv factorisation (linear/matmul layers always use svd)", Spec::one_of(kMethods));
  rule.visit(v);
  if (!recipe::is_writer(v) || has_target)
    v.section("target", [this](recipe::Visitor& s) { target.visit(s); },
              "whole-model target instead of a rank rule: ranks by greedy search on data.calib", &has_target);
  v.field("round_to", round_to, "computed ranks and search candidates are multiples of this", Spec::range(1, 4096));
  v.field("layers", layers, "per-layer {method, rank rule} by scope glob, later entries win");
  v.field("exclude", exclude, "scope globs of layers kept dense");
  v.section("cp", [this](recipe::Visitor& s) { cp.visit(s); }, "CP-ALS settings (method cp)");
  v.field("calib_batches", calib_batches, "data.calib batches per candidate of the target search",
          Spec::range(1, 100000));
  v.field("only_if_cheaper", only_if_cheaper, "keep a layer dense when its factors would cost as many MACs or more");
}

namespace {
struct LayerEntryOptions {
  std::string method;
  RankRuleOptions rule;
  void visit(recipe::Visitor& v) {
    v.field("method", method, "conv factorisation for these layers", Spec::one_of(kMethods));
    rule.visit(v);
  }
};

recipe::Location rule_location(const recipe::ConfigNode& node, const RankRule& r) {
  const recipe::ConfigNode* n = node.find(rule_key(r.kind));
  return n ? n->loc() : node.loc();
}

void check_target(const DecomposeOptions& o, const recipe::ConfigNode& node, recipe::Diagnostics& diag) {
  const recipe::ConfigNode* t = node.find("target");
  o.target_where = t->loc();
  const bool macs = t->find("macs") != nullptr, params = t->find("params") != nullptr;
  if (macs == params)
    diag.error(t->loc(), "decompose.target takes one of macs or params (the fraction of the model kept), e.g. "
                         "{macs: 0.5}");
  for (const char* k : {"macs", "params"}) {
    const double x = std::string(k) == "macs" ? o.target.macs : o.target.params;
    if (t->find(k) && !(x > 0.0 && x < 1.0))
      diag.error(t->find(k)->loc(), std::string("decompose.target.") + k + " is the fraction of the model kept, in "
                                    "(0, 1), got " + recipe::format_number(x));
  }
  if (o.parsed_rule.kind != RankRule::Kind::none)
    diag.error(o.rule_where, "decompose: '" + rule_key(o.parsed_rule.kind) +
                                 "' and 'target' both choose ranks; give one (per-layer ranks go in 'layers')");
}

// One `layers:` entry; the combined rule is checked against the combined method.
bool parse_layer_entry(const DecomposeOptions& o, const pipeline::ScopeGlob& glob, const recipe::ConfigNode& value,
                       LayerRule& out, recipe::Diagnostics& diag) {
  const std::string what = "decompose.layers." + glob.pattern;
  LayerEntryOptions e;
  if (!recipe::read_map(value, what, "{method: cp, rank: 16} or {rank_ratio: 0.5}", diag, e)) return false;
  out.where = value.loc();
  out.rule = e.rule.check(value, what, diag);
  if (out.rule.kind != RankRule::Kind::none) out.where = rule_location(value, out.rule);
  out.has_method = !e.method.empty();
  if (out.has_method) out.method = method_or(e.method, ConvMethod::tucker2);
  const ConvMethod m = out.has_method ? out.method : method_or(o.method, ConvMethod::tucker2);
  const RankRule& rule = out.rule.kind != RankRule::Kind::none ? out.rule : o.parsed_rule;
  const std::string why = rule_problem(rule, m, false);
  if (!why.empty()) diag.error(out.where, what + ": " + why);
  return true;
}
}  // namespace

void DecomposeOptions::validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
  parsed_rule = rule.check(node, "decompose", diag);
  rule_where = rule_location(node, parsed_rule);
  if (has_target) check_target(*this, node, diag);
  if (!has_target && parsed_rule.kind == RankRule::Kind::none)
    diag.error(node.loc(), "decompose needs a rank rule (rank, rank_ratio, energy or vbmf) or a target "
                           "({macs: f} or {params: f}), e.g. rank_ratio: 0.25");
  const std::string why = rule_problem(parsed_rule, method_or(method, ConvMethod::tucker2), false);
  if (!why.empty()) diag.error(rule_where, "decompose: " + why);
  const pipeline::GlobEntryParser<LayerRule> parse = [this](const pipeline::ScopeGlob& g, const recipe::ConfigNode& v,
                                                            LayerRule& out, recipe::Diagnostics& d) {
    return parse_layer_entry(*this, g, v, out, d);
  };
  parsed_layers = pipeline::parse_glob_map<LayerRule>(layers, "decompose.layers", diag, parse,
                                                      "{\"layer3.*\": {method: cp, rank: 16}}");
  parsed_exclude = pipeline::parse_scope_globs(exclude, "decompose.exclude", diag);
}

}  // namespace mc::lowrank
