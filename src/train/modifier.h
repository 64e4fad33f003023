// Modifiers: code that acts during training (gradual pruning, mask re-application, QAT range
// freezing, distillation losses), driven by the Trainer through hooks. A stage of the pipeline
// installs them; the next finetune stage's Trainer calls them, in the order they were added.
//
// Hook order:
//   on_train_begin
//   for each epoch:  on_epoch_begin
//                    for each batch: forward, loss + extra_loss (each modifier), backward,
//                                    on_after_backward, gradient clipping, optimizer step,
//                                    on_step_end
//                    validation (when the trainer has validation data), on_epoch_end
//   on_train_end (also after request_stop())
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/model.h"
#include "runtime/executor.h"
#include "train/evaluator.h"

namespace mc::train {

class Optimizer;
struct TrainOptions;

/// What one epoch did (epoch numbers are 0-based in the API, 1-based in messages).
struct EpochStats {
  int64_t epoch = 0;
  double loss = 0.0;       // mean training loss over the epoch's samples (extra losses included)
  double train_top1 = 0.0; // fraction of training samples classified right (in training mode)
  bool has_val = false;
  EvalResult val;          // validation result when has_val
  int64_t images = 0;      // training images seen (all ranks together in a data-parallel run)
  double seconds = 0.0;    // wall time of the epoch's training steps (validation excluded)
  double img_per_s = 0.0;
  double lr = 0.0;         // learning rate of the epoch's last step
  double comm_seconds = 0.0;  // data-parallel runs: time waiting for collectives (not overlapped)
  // Data-parallel runs, the epoch's steps only (what comm_seconds also counts at the epoch's end and
  // in validation is left out): seconds waiting for the gradient all-reduce after backward (the
  // part not overlapped with it), in the collectives of forward and backward (synchronised
  // BatchNorm; QAT observer ranges) and in the loss all-reduce. Divide by `steps` for per step.
  double comm_grad_seconds = 0.0;
  double comm_sync_seconds = 0.0;
  double comm_loss_seconds = 0.0;
  int64_t steps = 0;       // optimizer steps of the epoch
};

/// The trainer's state as modifiers see it.
struct TrainContext {
  ir::Model* model = nullptr;
  /// The executor the forwards run on now; replaced by every rebuild. To observe values, use
  /// add_hook() below, not executor->add_hook() (those hooks go with a rebuilt executor).
  runtime::Executor* executor = nullptr;
  /// The run's random numbers (dropout, stochastic depth, modifiers' own draws), seeded by
  /// TrainOptions::seed. ATen's global generator is neither used nor reseeded by training.
  at::Generator generator;
  Optimizer* optimizer = nullptr;  // lr(), params(), names()
  const TrainOptions* options = nullptr;

  int64_t epoch = 0;            // current epoch (0-based)
  int64_t epochs = 0;           // epochs of this run
  int64_t step = 0;             // optimizer steps done so far in the run (the current one excluded)
  int64_t step_in_epoch = 0;    // index of the current batch in the epoch
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;      // epochs * steps_per_epoch
  double loss = 0.0;            // loss of the last step
  /// Dataset indices of the current batch's samples (int64, N), when the loader provides them.
  at::Tensor batch_indices;
  std::vector<EpochStats> history;  // finished epochs (on_epoch_end sees the current one last)

  /// Learning rate of the current step.
  double lr() const;
  /// Fraction of the run done, in [0, 1] (step / total_steps).
  double progress() const;

  /// Ends training after the current epoch (e.g. early stopping).
  void request_stop() { stop_requested = true; }
  /// Call after changing the graph or replacing (not modifying in place) a parameter tensor:
  /// the trainer rebuilds the executor and the optimizer's parameter list after the hook returns.
  void request_rebuild() { rebuild_requested = true; }
  bool stop_requested = false;
  bool rebuild_requested = false;

  /// Observes the value named `value` in every forward from now on, on the current executor and on
  /// each one a rebuild makes (the trainer attaches the hook to it before the next forward), until
  /// remove_hook(id). Returns an id.
  int add_hook(const std::string& value, runtime::ValueHook hook);
  void remove_hook(int id);
  /// The trainer's rebuild notification: `executor` is the one the next forwards run on; every
  /// hook of add_hook() is attached to it.
  void set_executor(runtime::Executor* executor);

 private:
  struct Hook {
    int id;
    std::string value;
    runtime::ValueHook fn;
    int executor_hook;  // its id on `executor`
  };
  std::vector<Hook> hooks_;
  int next_hook_ = 0;
};

/// What the run directory keeps of a modifier that a stage installed for a later training stage,
/// so that `--resume` can continue between the two: `kind` names the function that rebuilds it
/// (pipeline::ModifierRestorers), `settings` and `tensors` are what that function reads.
struct ModifierState {
  std::string kind;
  nlohmann::json settings = nlohmann::json::object();
  std::map<std::string, at::Tensor> tensors;
};

/// Base of all modifiers; every hook does nothing by default. Parameters must be modified in place
/// (they are the optimizer's tensors), under at::NoGradGuard, or request_rebuild() must be called.
class Modifier {
 public:
  virtual ~Modifier();
  virtual std::string name() const;
  virtual void on_train_begin(TrainContext& ctx);
  virtual void on_epoch_begin(TrainContext& ctx, int64_t epoch);
  /// A term added to the training loss, or an undefined tensor for none (e.g. distillation).
  /// `outputs` are the model's logits of `images` (with autograd); `labels` the targets.
  virtual at::Tensor extra_loss(TrainContext& ctx, const at::Tensor& images, const at::Tensor& outputs,
                                const at::Tensor& labels);
  /// Factor on the task loss (cross-entropy) of the current step; the trainer multiplies the
  /// factors of all modifiers (e.g. 1 - alpha for distillation). Default 1.
  virtual double task_loss_weight(TrainContext& ctx);
  /// Trainable tensors the modifier owns (e.g. distillation adapters), named uniquely; the trainer
  /// adds them to its optimizer after on_train_begin (and after every rebuild). Default none.
  virtual std::vector<std::pair<std::string, at::Tensor>> extra_parameters();
  /// After backward, before clipping and the optimizer step (e.g. mask gradients).
  virtual void on_after_backward(TrainContext& ctx);
  /// After the optimizer step (e.g. re-apply pruning masks).
  virtual void on_step_end(TrainContext& ctx);
  virtual void on_epoch_end(TrainContext& ctx, int64_t epoch);
  virtual void on_train_end(TrainContext& ctx);
  /// The state to rebuild this modifier from before training (see ModifierState); nullopt (the
  /// default) for modifiers that no stage leaves pending for a later one.
  virtual std::optional<ModifierState> pending_state() const;
  /// The state that every rank of a data-parallel run must hold identically (QAT ranges, pruning
  /// masks), as one token without whitespace for `compress --trace-steps` (the trainer writes it
  /// after each step's on_step_end as " <name()>=<token>"); "" (the default) for none.
  virtual std::string step_trace() const;
};

/// A digest of pruning masks for step traces: "<kept>/<total>:<FNV-1a 64 of the names and the keep
/// bits, in name order, 16 hex digits>". Equal digests mean equal masks (up to a hash collision).
std::string mask_digest(const std::map<std::string, at::Tensor>& masks);

/// Keeps fixed zero masks on parameters: zeroes masked gradients after backward and masked
/// weights after every step (so pruned weights stay zero through fine-tuning, also with momentum
/// and weight decay). `masks`: parameter name -> tensor of the parameter's shape, nonzero = keep.
class MaskModifier : public Modifier {
 public:
  explicit MaskModifier(std::map<std::string, at::Tensor> masks);
  /// Masks of the zeros currently in the named parameters (or all parameters when `names` is empty,
  /// skipping those without zeros): the usual way to freeze a pruned model's sparsity.
  static std::shared_ptr<MaskModifier> from_zeros(const ir::Model& model, const std::vector<std::string>& names = {});

  std::string name() const override { return "mask"; }
  void on_train_begin(TrainContext& ctx) override;
  void on_after_backward(TrainContext& ctx) override;
  void on_step_end(TrainContext& ctx) override;

  const std::map<std::string, at::Tensor>& masks() const { return masks_; }
  /// kind "mask": the masks as tensors.
  std::optional<ModifierState> pending_state() const override;
  /// mask_digest() of the masks.
  std::string step_trace() const override { return mask_digest(masks_); }
  static std::shared_ptr<MaskModifier> from_state(const ModifierState& state);

 private:
  void apply(TrainContext& ctx, bool to_grads);
  std::map<std::string, at::Tensor> masks_;
};

}  // namespace mc::train
