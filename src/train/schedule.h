// Learning-rate schedules with per-step granularity: constant, step (milestones, gamma) and cosine
// (to min_lr over the training), each optionally preceded by a linear warm-up.
//
// With base learning rate B, T total steps, W warm-up steps and t the step index (0-based):
//   warm-up factor  w(t) = f0 + (1 - f0) * min(t, W) / W           (1 when W = 0)
//   constant        lr(t) = B * w(t)
//   step            lr(t) = B * w(t) * gamma^(number of milestones <= t)   (milestones in steps)
//   cosine          lr(t) = B * w(t)                                        for t < W
//                   lr(t) = min_lr + (B - min_lr) * (1 + cos(pi * (t - W) / (T - W))) / 2  for t >= W
// These are torch.optim.lr_scheduler's LinearLR(start_factor=f0, total_iters=W), chained with
// MultiStepLR (ChainedScheduler) or followed by CosineAnnealingLR(T_max=T-W, eta_min=min_lr)
// (SequentialLR), stepped once per optimizer step.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mc::train {

struct ScheduleSpec {
  std::string type = "constant";  // constant | step | cosine
  /// step: epochs (counted from the start of training, warm-up included) after which the rate
  /// is multiplied by gamma.
  std::vector<double> milestones;
  double gamma = 0.1;
  /// cosine: the rate reached at the end of training.
  double min_lr = 0.0;
  /// Linear warm-up length in epochs (fractions allowed) or, when warmup_steps > 0, in steps.
  double warmup_epochs = 0.0;
  int64_t warmup_steps = 0;
  /// The warm-up starts at warmup_start_factor * lr (in (0, 1]).
  double warmup_start_factor = 0.1;
};

/// Throws InputError naming the field for an invalid spec.
void validate(const ScheduleSpec& spec);

class LrSchedule {
 public:
  /// Throws InputError for an invalid spec, or when the warm-up is longer than the training.
  LrSchedule(const ScheduleSpec& spec, double base_lr, int64_t steps_per_epoch, int64_t epochs);
  /// Learning rate of optimizer step `step` (0-based; steps past total_steps() get the rate at
  /// total_steps(), e.g. min_lr for cosine).
  double lr_at(int64_t step) const;

  int64_t total_steps() const { return total_; }
  int64_t warmup_steps() const { return warmup_; }
  /// e.g. "cosine(lr 0.1 -> 0, 1000 steps, warm-up 100 steps from 0.01)".
  std::string describe() const;

 private:
  ScheduleSpec spec_;
  double base_;
  int64_t total_ = 0;
  int64_t warmup_ = 0;
  std::vector<int64_t> milestone_steps_;
};

}  // namespace mc::train
