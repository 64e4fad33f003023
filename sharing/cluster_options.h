/// Options of the `cluster` stage (sharing/cluster_stage.h) and the checks that need no model.
///
///   - cluster:
///       bits: 4                 # codebook of 2^bits entries (1..8) ... or
///       k: 16                   # ... k entries (2..256); one of the two; the fixed zero of a pruned
///                               #     weight is one of them
///       init: linear            # linear | density | kmeans++ (sharing/kmeans.h)
///       per_channel: false      # one codebook per output channel
///       iters: 30               # Lloyd iterations at most
///       layers: {"layer3.*": {bits: 2}, fc: {k: 32}}   # per-layer codebook sizes, later entries win
///       exclude: [conv1]        # scope globs of layers left as they are
#pragma once
#include <string>
#include <vector>

#include "pipeline/layer_select.h"
#include "recipe/options.h"

namespace mc::share {

/// The codebook-size keys (`bits` or `k`), shared by the stage and its `layers:` entries; 0 = not
/// given.
struct CodebookSize {
  int64_t bits = 0;
  int64_t k = 0;
  void visit(recipe::Visitor& v);
  /// The number of entries (checks ranges and that at most one key is given, errors into diag at
  /// their locations; `what` prefixes messages); 0 when neither is given.
  int64_t check(const recipe::ConfigNode& node, const std::string& what, recipe::Diagnostics& diag) const;
};

/// One `layers:` entry after parsing.
struct LayerK {
  int64_t k = 0;
  recipe::Location where;
};

struct ClusterOptions {
  CodebookSize size;
  std::string init = "linear";
  bool per_channel = false;
  int64_t iters = 30;
  recipe::ConfigNode layers;
  recipe::ConfigNode exclude;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;

  /// Filled by validate() (the stage reads them at run time).
  mutable int64_t parsed_k = 0;
  mutable std::vector<pipeline::GlobEntry<LayerK>> parsed_layers;
  mutable std::vector<pipeline::ScopeGlob> parsed_exclude;
};

/// The options of a `cluster:` entry of a recipe, parsed and validated (errors into diag).
ClusterOptions parse_cluster_options(const recipe::ConfigNode& node, recipe::Diagnostics& diag,
                                     const std::string& context);

}  // namespace mc::share
