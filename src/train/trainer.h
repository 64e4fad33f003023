// Trainer: supervised training of an ir::Model on a DataLoader, driving modifiers.
//
//   train::TrainOptions o;
//   o.epochs = 3;
//   o.optimizer.lr = 0.05;
//   o.optimizer.momentum = 0.9;
//   o.optimizer.weight_decay = 5e-4;
//   o.schedule.type = "cosine";
//   train::Trainer t(model, o);
//   t.add_modifier(train::MaskModifier::from_zeros(model));
//   train::TrainResult r = t.fit(train_loader, &val_loader);
//
// In a data-parallel run (dist::world() of W processes, each with its own shard of the training
// data) every rank starts from rank 0's tensors (broadcast), gradients are averaged over the ranks
// before every optimizer step (dist::GradientReducer), the reported loss and accuracy are those of
// the global batch, and validation is sharded and all-reduced.
//
// The model's tensors are updated in place. Batch norm runs in training mode (batch statistics,
// running statistics updated); validation runs in inference mode. After fit() the parameters have
// no gradients and requires_grad is as it was before.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/loader.h"
#include "ir/model.h"
#include "train/evaluator.h"
#include "train/modifier.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace mc::train {

struct TrainOptions {
  int64_t epochs = 1;
  OptimizerSpec optimizer;
  ScheduleSpec schedule;
  double label_smoothing = 0.0;
  /// Clip gradients to this global L2 norm; 0 = off.
  double grad_clip_norm = 0.0;
  /// Seeds the run's own generator (TrainContext::generator: dropout, modifiers' random draws) at
  /// the start of fit(); ATen's global generator is neither used nor reseeded. Shuffling and random
  /// transforms are seeded by the loaders' own seeds.
  uint64_t seed = 0;
  /// > 0: intra-op threads of ATen and OpenBLAS for the run (set_compute_threads); 0 = leave as is.
  int threads = 0;
  /// Tune glibc malloc to keep freed tensor memory (see memory.h): several times faster steps on
  /// small models. Process-wide and permanent.
  bool tune_malloc = true;
  /// > 0: train only the first max_steps_per_epoch batches of each epoch (smoke tests, benches).
  int64_t max_steps_per_epoch = 0;
  /// > 0: validate on the first max_val_batches batches only.
  int64_t max_val_batches = 0;
  /// Data-parallel runs (dist::world() of several processes; ignored in a one-process run):
  /// BatchNorm statistics over the global batch (dist::sync_batch_norm), and the size of the
  /// gradient all-reduce buckets. See "Data-parallel training" in docs/architecture.md.
  bool sync_batch_norm = false;
  double bucket_mb = 25;
  /// When set, one line per optimizer step is appended to this file (rank k > 0 of a data-parallel
  /// run: to "<file>.rank<k>"): "<label> <epoch> <step> <loss>" (1-based epoch and step in the run,
  /// the loss of the global batch, %.9g), then " <modifier>=<state>" for each modifier whose
  /// step_trace() is not empty (QAT ranges, pruning mask digests), written after on_step_end.
  std::string step_trace;
  /// Progress display (see progress.h).
  bool quiet = false;
  int progress_tty = -1;  // -1 auto, 0 plain lines only, 1 bar
  std::string label = "train";
};

/// Throws InputError naming the field for invalid options (optimizer and schedule included).
void validate(const TrainOptions& options);

struct TrainResult {
  std::vector<EpochStats> epochs;  // one per epoch run
  int64_t steps = 0;               // optimizer steps done
  double seconds = 0.0;            // wall time of fit()
  bool stopped_early = false;      // a modifier called request_stop()
  const EpochStats& last() const { return epochs.back(); }
};

class Trainer {
 public:
  /// Keeps a reference to `model`. Throws InputError for invalid options.
  Trainer(ir::Model& model, TrainOptions options);
  ~Trainer();

  /// Modifiers are called in the order they were added.
  void add_modifier(std::shared_ptr<Modifier> modifier);
  const std::vector<std::shared_ptr<Modifier>>& modifiers() const { return modifiers_; }

  /// Trains options.epochs epochs on `train`; evaluates `val` after each epoch when given.
  /// Throws RuntimeFailure when the loss becomes nan/inf (naming epoch and step, 1-based),
  /// InputError when the data does not fit the model.
  TrainResult fit(data::DataLoader& train, data::DataLoader* val = nullptr);

  const TrainOptions& options() const { return options_; }

 private:
  ir::Model& model_;
  TrainOptions options_;
  std::vector<std::shared_ptr<Modifier>> modifiers_;
};

}  // namespace mc::train
