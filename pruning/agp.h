/// Gradual magnitude pruning with Zhu & Gupta's cubic schedule (AGP, "To prune, or not to prune",
/// 2017), driven by the next `finetune` stage:
///
///   s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n dt))^3,   t = t0, t0 + dt, ..., t0 + n dt
///
/// t counts optimizer steps; t0 = start_epoch * steps_per_epoch, t0 + n dt = end_epoch *
/// steps_per_epoch (fractional epochs allowed, rounded to steps), dt = `frequency` steps. At each
/// update the masks are recomputed by magnitude (layer-wise or one global threshold, as the prune
/// stage selected) at s_t; at end_epoch s_t = s_f exactly. Between updates the masks are enforced on
/// the gradients after backward and on the weights after every optimizer step, so momentum and
/// weight decay cannot revive pruned weights. At the end of training the weights hold the final
/// zeros (the masks are folded in) and the modifier is gone with the finetune stage.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pruning/magnitude.h"
#include "train/modifier.h"

namespace mc::prune {

/// s_t of the cubic schedule for step t: s_i before t0, s_f from t_end on.
double agp_sparsity(double s_i, double s_f, int64_t t, int64_t t0, int64_t t_end);

struct AgpSchedule {
  double start_epoch = 0.0;
  double end_epoch = 1.0;
  int64_t frequency = 100;        // dt, in optimizer steps
  double initial_sparsity = 0.0;  // s_i (capped by each target's final sparsity)
};

class AgpModifier : public train::Modifier {
 public:
  /// `final_targets`: the sparsities reached at end_epoch (one per weight, or the global one).
  AgpModifier(std::vector<pipeline::WeightLayer> weights, SparsityTargets final_targets, AgpSchedule schedule);

  std::string name() const override { return "agp_pruning"; }
  void on_train_begin(train::TrainContext& ctx) override;
  void on_after_backward(train::TrainContext& ctx) override;
  void on_step_end(train::TrainContext& ctx) override;
  void on_train_end(train::TrainContext& ctx) override;

  /// The targets at step t (the schedule applied to every final target).
  SparsityTargets targets_at(int64_t t) const;
  /// (step, scheduled sparsity of the global group, or of the first weight when layer-wise) at
  /// each mask update so far.
  const std::vector<std::pair<int64_t, double>>& updates() const { return updates_; }
  int64_t start_step() const { return t0_; }
  int64_t end_step() const { return t_end_; }

  /// kind "agp_pruning": the weights, final targets and schedule (the masks start at on_train_begin).
  std::optional<train::ModifierState> pending_state() const override;
  static std::shared_ptr<AgpModifier> from_state(const train::ModifierState& state);
  /// train::mask_digest() of the current masks (after the step's update).
  std::string step_trace() const override { return train::mask_digest(masks_); }

 private:
  void maybe_update(train::TrainContext& ctx, int64_t t);
  void enforce(train::TrainContext& ctx, bool grads);

  std::vector<pipeline::WeightLayer> weights_;
  SparsityTargets final_;
  AgpSchedule schedule_;
  int64_t t0_ = 0, t_end_ = 0;
  std::map<std::string, at::Tensor> masks_;
  std::vector<std::pair<int64_t, double>> updates_;
};

}  // namespace mc::prune
