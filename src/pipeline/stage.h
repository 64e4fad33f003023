// Stages: what a recipe's `stages:` entries name. A stage is one class with a nested `Options`
// struct declared once through `visit()` (parsing, checks, docs and echo all come from it).
// Folders register their stages explicitly (register.cpp), never by static initialisers.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/model.h"
#include "pipeline/pending_modifiers.h"
#include "pipeline/training_extension.h"
#include "recipe/options.h"
#include "recipe/recipe.h"

namespace mc::train {
class Modifier;
}
namespace mc::pipeline {

class DataContext;

/// What a running stage sees and changes.
struct RunContext {
  const recipe::Recipe& recipe;
  ir::Model& model;                 // the model being compressed (stages change it in place)
  const ir::Model& original;        // the model as loaded (teacher for `teacher: original`)
  DataContext& data;
  std::string run_dir;
  int stage_index = 0;
  /// Modifiers installed by stages (pruning masks, QAT range freezing); the next training stage
  /// drives and then clears them. Kept in the run directory for --resume (pending_modifiers.h):
  /// a modifier left here must implement pending_state() and have a registered restorer.
  std::vector<std::shared_ptr<train::Modifier>>& modifiers;
  /// Stage-specific facts for the report (epochs, losses, what changed).
  nlohmann::json& details;
  /// Per-tensor storage bit width (default 32), for the report's bytes as stored.
  std::map<std::string, int>& storage_bits;
  bool quiet = false;
  /// `compress --trace-steps FILE`: training stages append each step's loss and modifier states there
  /// (rank k > 0 of a data-parallel run: FILE.rank<k>; see train::TrainOptions::step_trace).
  std::string step_trace;
};

/// A RunContext of its own for a stage run outside a recipe run (the layer sweep's candidates, the
/// `auto` search's latency probe), owning the modifiers, report details and storage bits the
/// stage writes. Stage index 0, no step trace.
struct ScratchRun {
  ScratchRun(const recipe::Recipe& recipe, ir::Model& model, const ir::Model& original, DataContext& data,
             std::string dir, bool quiet)
      : ctx{recipe, model, original, data, std::move(dir), 0, modifiers, details, storage_bits, quiet, ""} {}
  ScratchRun(const ScratchRun&) = delete;
  ScratchRun& operator=(const ScratchRun&) = delete;

  std::vector<std::shared_ptr<train::Modifier>> modifiers;
  nlohmann::json details = nlohmann::json::object();
  std::map<std::string, int> storage_bits;
  RunContext ctx;  // refers to the members above
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual void run(RunContext& ctx) = 0;
  /// The effective options (defaults filled in), for the run directory's recipe echo.
  virtual recipe::ConfigNode effective_options() = 0;
  /// Data the stage needs ("train", "val", "calib"), checked before anything runs.
  virtual std::vector<std::string> needs_data() const { return {}; }
  /// The splits of needs_data() whose labels the stage reads, each with what reads them (for the
  /// message when data.calib is unlabelled). Default: all of them ("measures a loss or accuracy").
  /// Stages that read images only (calibration) override it.
  struct LabelUse {
    std::string split, why;
  };
  virtual std::vector<LabelUse> needs_labels() const {
    std::vector<LabelUse> out;
    for (auto& s : needs_data()) out.push_back({s, "it measures a loss or accuracy on it"});
    return out;
  }
  /// Checks against the rest of the recipe (e.g. "a later finetune stage must follow"), made when
  /// the plan is built, so `compress validate` reports them and a run stops before any stage ran.
  /// `index` is this stage's 0-based position in recipe.stages. Errors go into diag.
  virtual void check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const {
    (void)recipe;
    (void)index;
    (void)diag;
  }
  /// Checks against the model as the recipe loads it (a rank that does not fit a layer, a glob that
  /// matches no layer), made by `compress validate` and by a run before it writes anything, for each
  /// stage that sees the layers as loaded: every stage before it keeps_layers(). Errors go into
  /// diag, or an InputError may be thrown (its message, with the recipe location, is kept).
  virtual void check_model(const ir::Model& model, recipe::Diagnostics& diag) const {
    (void)model;
    (void)diag;
  }
  /// True when the stage leaves the weight layers (their scopes and weight shapes) as they are, so
  /// later stages' check_model() still holds (training, evaluation, saving, export).
  virtual bool keeps_layers() const { return false; }
};

/// Implements the option plumbing for a stage whose options type O has `void visit(Visitor&)` and
/// `void validate(const ConfigNode&, Diagnostics&) const` (cross-field checks).
template <typename O>
class StageWithOptions : public Stage {
 public:
  using Options = O;
  explicit StageWithOptions(Options o) : options_(std::move(o)) {}
  recipe::ConfigNode effective_options() override {
    recipe::Writer w;
    options_.visit(w);
    return w.result();
  }
  const Options& options() const { return options_; }

 protected:
  Options options_;
};

struct StageInfo {
  std::string name;
  std::string doc;
  /// Parses options (errors into diag, at the entry's locations) and builds the stage.
  std::function<std::unique_ptr<Stage>(const recipe::ConfigNode& options, recipe::Diagnostics& diag,
                                       const std::string& context, const std::string& base_dir)>
      make;
  std::function<std::vector<recipe::OptionDoc>()> describe;
};

class StageRegistry {
 public:
  /// Adds a stage; a name already taken is an mc::Error naming both call sites.
  void add(StageInfo info, const char* file = __builtin_FILE(), int line = __builtin_LINE());
  const StageInfo* find(const std::string& name) const;
  /// Stage `name` built from `options` outside a recipe's plan (the layer sweep's candidates, the
  /// `auto` search's probes): InputError for an unknown name or with the first option error.
  std::unique_ptr<Stage> make(const std::string& name, const recipe::ConfigNode& options,
                              const std::string& base_dir) const;
  std::vector<std::string> names() const;
  const std::vector<StageInfo>& all() const { return stages_; }
  /// Option sections of the `train`/`finetune` stages provided by other folders (`distill`).
  /// Shared with the training stages' StageInfos, so extensions may be added after them.
  TrainingExtensions& training_extensions() { return *extensions_; }
  std::shared_ptr<const TrainingExtensions> training_extensions_ptr() const { return extensions_; }
  /// How the pending modifiers of each kind are rebuilt on --resume (see pending_modifiers.h).
  ModifierRestorers& modifier_restorers() { return restorers_; }
  const ModifierRestorers& modifier_restorers() const { return restorers_; }

 private:
  ModifierRestorers restorers_;
  std::vector<StageInfo> stages_;
  Registrants registrants_{"stage"};
  std::shared_ptr<TrainingExtensions> extensions_ = std::make_shared<TrainingExtensions>();
};

/// StageInfo for a stage class S deriving from StageWithOptions<S::Options>.
template <typename S>
StageInfo stage_info(const std::string& name, const std::string& doc) {
  StageInfo info;
  info.name = name;
  info.doc = doc;
  info.make = [](const recipe::ConfigNode& node, recipe::Diagnostics& diag, const std::string& context,
                 const std::string& base_dir) -> std::unique_ptr<Stage> {
    typename S::Options o;
    recipe::Reader r(&node, diag, context, base_dir);
    o.visit(r);
    r.finish();
    o.validate(node, diag);
    return std::make_unique<S>(std::move(o));
  };
  info.describe = [] {
    typename S::Options o;
    recipe::Describer d;
    o.visit(d);
    return d.docs();
  };
  return info;
}

/// Cross-field checks after parsing; Options may shadow this with their own.
struct NoExtraChecks {
  void validate(const recipe::ConfigNode&, recipe::Diagnostics&) const {}
};

/// The core stages of this folder: train, finetune, evaluate, fold_batch_norm, optimize, analyze, save.
void register_pipeline_stages(StageRegistry& r);

}  // namespace mc::pipeline
