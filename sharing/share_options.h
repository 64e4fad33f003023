/// Options of the `share` stage (sharing/share_stage.h) and the checks that need no model.
///
///   - share:
///       method: hashed          # hashed (HashedNets) | circulant (block-circulant)
///       ratio: 8                # hashed: K = ceil(out * in / ratio) stored values (ratio >= 1) ... or
///       k: 4096                 # hashed: K stored values (>= 1); one of the two
///       block: 16               # circulant: b x b blocks, each one vector of b values (b >= 2)
///       seed: 0                 # hashed: layer n (0-based, in graph order) hashes with seed + n
///       layers: {fc1: {ratio: 16}, fc2: {k: 1000}}   # per-layer sizes, later entries win
///       exclude: [fc3]          # scope globs of linear layers left dense
#pragma once
#include <string>
#include <vector>

#include "pipeline/layer_select.h"
#include "recipe/options.h"

namespace mc::share {

/// The size keys (`k`, `ratio` for hashed; `block` for circulant), shared by the stage and its
/// `layers:` entries; 0 = not given.
struct ShareSize {
  int64_t k = 0;
  double ratio = 0;
  int64_t block = 0;
  void visit(recipe::Visitor& v);
  /// Checks ranges, that the keys fit `method` and that at most one of k / ratio is given (errors
  /// into diag at their locations, `what` prefixing messages); false when something is wrong.
  bool check(const recipe::ConfigNode& node, const std::string& method, const std::string& what,
             recipe::Diagnostics& diag) const;
  bool given() const { return k > 0 || ratio > 0 || block > 0; }
};

/// One `layers:` entry after parsing.
struct LayerShare {
  ShareSize size;
  recipe::Location where;
};

struct ShareOptions {
  std::string method = "hashed";
  ShareSize size;
  int64_t seed = 0;
  recipe::ConfigNode layers;
  recipe::ConfigNode exclude;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;

  /// Filled by validate() (the stage reads them at run time).
  mutable std::vector<pipeline::GlobEntry<LayerShare>> parsed_layers;
  mutable std::vector<pipeline::ScopeGlob> parsed_exclude;
};

ShareOptions parse_share_options(const recipe::ConfigNode& node, recipe::Diagnostics& diag, const std::string& context);

}  // namespace mc::share
