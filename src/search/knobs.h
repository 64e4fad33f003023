// The techniques `compress auto` searches, one table entry per knob: which layers (or blocks) it
// applies to, its candidate settings, and how per-layer choices become that stage's recipe
// entries. A new technique plugs in by adding an entry to knob_table() (knobs.cpp); the sweep,
// the ranking and the trials use nothing else.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/model.h"
#include "recipe/config_tree.h"
#include "search/auto_options.h"

namespace mc::search {

/// One choice: technique `knob` on `layer` (a weight layer's scope, or a block's for prune_blocks)
/// at `setting` (the knob's own text: a ratio, bits, ...).
struct Move {
  std::string knob, layer, setting;
  bool operator==(const Move& o) const { return knob == o.knob && layer == o.layer && setting == o.setting; }
  bool operator<(const Move& o) const {
    return knob != o.knob ? knob < o.knob : layer != o.layer ? layer < o.layer : setting < o.setting;
  }
};

/// A recipe stage entry: name and options.
struct StageText {
  std::string name;
  recipe::ConfigNode options;
};

struct Knob {
  std::string name;
  std::string stage;  // the stage it runs
  /// Place in a trial recipe (prune_blocks 10, prune_channels 20, decompose 30, cluster 40; the
  /// fine-tune is at 50; quantize 60, after it: PTQ of the fine-tuned model).
  int order = 0;
  std::vector<std::string> settings;  // candidates, mildest first
  /// The layers or blocks the knob may change in `model`.
  std::function<std::vector<std::string>(const ir::Model& model)> targets;
  /// Stage entries applying `choices` (target -> setting); `present` are the weight layers of the
  /// model when the stage runs (for `exclude` lists: a glob must match a layer).
  std::function<std::vector<StageText>(const std::map<std::string, std::string>& choices,
                                       const std::vector<std::string>& present, const AutoOptions& options)>
      stages;
  /// True when it can change ONNX Runtime's speed without changing MACs (integer kernels): the
  /// sweep's MACs cannot rank it for ort_latency, so the search tries it as one whole-model trial.
  bool kernel_speed = false;
  /// True when a chosen target takes its weight layers out of the model (prune_blocks).
  bool removes_layers = false;
};

const std::vector<Knob>& knob_table();
const Knob* find_knob(const std::string& name);

/// Scope text quoted for a YAML flow context.
std::string yaml_quote(const std::string& s);

/// Whether `layer` is `block` or below it (at a '.' boundary).
bool within(const std::string& layer, const std::string& block);

}  // namespace mc::search
