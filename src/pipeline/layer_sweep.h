// One generic per-layer sensitivity sweep that every technique can use: for each candidate (a
// stage of the registry with options that restrict it to one layer or block at one setting), run
// that stage in process on a copy of the model, optionally re-estimate its BatchNorm statistics on
// a few training batches (adaptive BatchNorm: top-1 then predicts the accuracy after fine-tuning
// far better than with the stale statistics), evaluate top-1 on a subset of a data split and
// measure what it saved (MACs, bytes as stored, parameters). The `auto` search ranks its moves
// with it (src/search/); pruning/sensitivity.cpp is the pruning-only chart of the same idea.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "pipeline/data_context.h"
#include "pipeline/stage.h"
#include "recipe/recipe.h"

namespace mc::pipeline {

/// One setting of one technique on one layer: `stage` with `options` (a map node, as a recipe
/// entry would hold it). `knob`, `layer` and `setting` only label the row.
struct SweepCandidate {
  std::string knob, layer, setting;
  std::string stage;
  recipe::ConfigNode options;
  /// Whether SweepOptions::recovery runs after this candidate's stage (false for a move that the
  /// caller applies after its fine-tune, such as post-training quantization).
  bool recover = true;
};

struct SweepRow {
  SweepCandidate candidate;
  bool ok = false;
  std::string error;       // why the stage refused or failed (ok false)
  double top1 = 0.0;       // on the measured subset, after the stage (and the recovery and BatchNorm recalibration)
  /// With a recovery: top-1 after the stage alone (with the BatchNorm recalibration), before the
  /// recovery; without one, equal to top1.
  double top1_before_recovery = 0.0;
  double bn_seconds = 0.0;       // of `seconds`, the BatchNorm recalibrations'
  double recovery_seconds = 0.0; // of `seconds`, the recoveries'
  bool extended = false;         // SweepOptions::extend_recovery picked it: top1 is after the longer recovery
  int64_t macs = 0, bytes_stored = 0, params = 0;  // macs: batch_norm's left out (folded when deployed)
  double cost = 0.0;  // SweepOptions::cost of the model after the stage (0 when not measured)
  double seconds = 0.0;
};

struct SweepBaseline {
  double top1 = 0.0;
  int64_t macs = 0, bytes_stored = 0, params = 0, count = 0;
  double cost = 0.0;  // SweepOptions::cost of the model as it is
};

struct SweepOptions {
  std::string split = "val";
  int64_t max_batches = 0;  // batches of the split evaluated per candidate (0 = all)
  /// Batches of `bn_split` whose BatchNorm statistics replace the running ones (train::
  /// recalibrate_batch_norm) after the stage and before top-1, on every candidate and on the
  /// baseline alike (so a drop is the stage's alone); 0: the statistics stay as they are.
  int64_t bn_batches = 0;
  std::string bn_split = "train";
  /// A stage run after each candidate's stage (when the candidate's `recover` is set), before its
  /// top-1: a short distilled `finetune` (a few hundred images), so that a move ranks by what a
  /// fine-tune recovers of it, not by the damage it does at once: removing a whole block costs tens
  /// of points before any training and about one after (recipes/resnet8_depth_channels.yaml).
  /// It drives the modifiers the candidate's stage installed. Empty: none.
  std::string recovery_stage;
  recipe::ConfigNode recovery_options;
  /// After the recovery, a longer one for the candidates `extend_recovery` picks from their row so
  /// far (top-1 after the first recovery, sizes, cost): the recovery stage with
  /// `extended_recovery_options`, continuing from the recovered model; top1 is then measured after
  /// it and `extended` set. The `auto` search extends the moves that save much but still lose more
  /// than its tolerance after the short recovery (a removed block recovers over hundreds of steps).
  std::function<bool(const SweepRow&)> extend_recovery;
  recipe::ConfigNode extended_recovery_options;
  /// A cost the sweep cannot count itself, measured on the baseline and on each candidate's model
  /// right after its stage (the `auto` search: ONNX Runtime latency of the exported model, where
  /// MACs mislead: a low-rank factorisation saves MACs in three convolutions instead of one).
  /// Called with the candidate (null for the baseline); may return 0 for "not measured". Empty:
  /// not measured (cost 0).
  std::function<double(const ir::Model&, const SweepCandidate*)> cost;
  std::string work_dir;     // run directory the stages see (files they write go there)
  bool quiet = true;
  /// Called after each candidate (index, total, row), e.g. for progress lines.
  std::function<void(size_t, size_t, const SweepRow&)> on_row;
};

/// The model measured as it is (top-1 on the subset, after the same BatchNorm recalibration as the
/// candidates when bn_batches > 0; MACs, bytes, params). InputError when a split is missing.
SweepBaseline sweep_baseline(const ir::Model& model, DataContext& data, const SweepOptions& options);

/// Runs every candidate on its own copy of `model` (the stage sees `model` as the original too).
/// A candidate whose options do not parse, whose stage throws an mc::Error (a block that cannot be
/// removed, a glob that matches nothing), or that changes none of the counts (MACs with batch_norm
/// left out, bytes as stored, parameters, non-zeros: nothing to gain, so top-1 is not measured)
/// gives a row with ok false and the reason; LibTorch errors propagate.
std::vector<SweepRow> sweep_layers(const ir::Model& model, const recipe::Recipe& recipe, DataContext& data,
                                   const StageRegistry& registry, const std::vector<SweepCandidate>& candidates,
                                   const SweepOptions& options);

}  // namespace mc::pipeline
