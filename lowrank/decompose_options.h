/// Options of the `decompose` stage (lowrank/decompose_stage.h) and the checks that need no model.
///
///   - decompose:
///       method: tucker2          # convs: channel_svd | spatial_svd | tucker2 | cp (linear/matmul: svd)
///       rank_ratio: 0.25         # one rank rule: rank | rank_ratio | energy | vbmf (lowrank/rank_rule.h)
///       target: {macs: 0.5}      # ... or a whole-model target (fraction KEPT): macs | params
///       round_to: 1              # computed ranks (and candidates) a multiple of this
///       layers: {"layer3.*": {method: cp, rank: 16}, fc: {rank_ratio: 0.5}}   # later entries win
///       exclude: [conv1]
///       cp: {max_iters: 500, max_error: 0.3}
///       calib_batches: 4         # data.calib batches per candidate (target only)
///       only_if_cheaper: true    # keep a layer dense when its factors cost at least as much
#pragma once
#include <string>
#include <vector>

#include "lowrank/factorize.h"
#include "lowrank/rank_rule.h"
#include "pipeline/layer_select.h"
#include "recipe/options.h"

namespace mc::lowrank {

/// The rank-rule keys, shared by the stage and its `layers:` entries. Zero / empty = not given.
struct RankRuleOptions {
  std::vector<int64_t> rank;
  double rank_ratio = 0.0;
  double energy = 0.0;
  bool vbmf = false;
  void visit(recipe::Visitor& v);
  /// Checks the values and that at most one rule is given; `what` prefixes messages.
  RankRule check(const recipe::ConfigNode& node, const std::string& what, recipe::Diagnostics& diag) const;
};

struct TargetOptions {
  double macs = 0.0;
  double params = 0.0;
  void visit(recipe::Visitor& v);
};

struct CpSection {
  int64_t max_iters = 500;
  double max_error = 0.3;
  void visit(recipe::Visitor& v);
};

/// One `layers:` entry after parsing: a method and/or a rank rule for the layers its glob matches.
struct LayerRule {
  bool has_method = false;
  ConvMethod method = ConvMethod::tucker2;
  RankRule rule;             // Kind::none: the stage's rule (or the target search)
  recipe::Location where;    // of the entry, for rank errors at run time
};

struct DecomposeOptions {
  std::string method = "tucker2";
  RankRuleOptions rule;
  bool has_target = false;
  TargetOptions target;
  int64_t round_to = 1;
  recipe::ConfigNode layers;
  recipe::ConfigNode exclude;
  CpSection cp;
  int64_t calib_batches = 4;
  bool only_if_cheaper = true;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;

  /// Filled by validate() (the stage reads them at run time).
  mutable RankRule parsed_rule;
  mutable recipe::Location rule_where;
  mutable std::vector<pipeline::GlobEntry<LayerRule>> parsed_layers;
  mutable std::vector<pipeline::ScopeGlob> parsed_exclude;
  mutable recipe::Location target_where;
};

/// "channel_svd" ... -> ConvMethod (the name must be valid: mc::Error otherwise).
ConvMethod parse_method(const std::string& name);
/// The same, `dflt` for an unknown name (already reported by the Reader).
ConvMethod method_or(const std::string& name, ConvMethod dflt);

}  // namespace mc::lowrank
