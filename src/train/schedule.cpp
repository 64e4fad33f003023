#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/error.h"

namespace mc::train {

namespace {
std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

void validate(const ScheduleSpec& s) {
  if (s.type != "constant" && s.type != "step" && s.type != "cosine")
    throw InputError("schedule.type '" + s.type + "' is unknown (use constant, step or cosine)");
  if (s.type == "step") {
    if (s.milestones.empty())
      throw InputError("schedule.milestones is empty: a step schedule needs the epochs at which to decay (e.g. [30, 60])");
    for (size_t i = 0; i < s.milestones.size(); ++i) {
      if (!(s.milestones[i] >= 0))
        throw InputError("schedule.milestones[" + std::to_string(i) + "] = " + num(s.milestones[i]) + " must be >= 0");
      if (i > 0 && s.milestones[i] <= s.milestones[i - 1])
        throw InputError("schedule.milestones must be increasing, got " + num(s.milestones[i - 1]) + " then " +
                         num(s.milestones[i]));
    }
    if (!(s.gamma > 0 && s.gamma <= 1))
      throw InputError("schedule.gamma = " + num(s.gamma) + " is out of range: must be in (0, 1] (e.g. 0.1)");
  }
  if (!(s.min_lr >= 0)) throw InputError("schedule.min_lr = " + num(s.min_lr) + " must be >= 0");
  if (!(s.warmup_epochs >= 0)) throw InputError("schedule.warmup_epochs = " + num(s.warmup_epochs) + " must be >= 0");
  if (s.warmup_steps < 0) throw InputError("schedule.warmup_steps = " + std::to_string(s.warmup_steps) + " must be >= 0");
  if (!(s.warmup_start_factor > 0 && s.warmup_start_factor <= 1))
    throw InputError("schedule.warmup_start_factor = " + num(s.warmup_start_factor) + " is out of range: must be in (0, 1]");
}

LrSchedule::LrSchedule(const ScheduleSpec& spec, double base_lr, int64_t steps_per_epoch, int64_t epochs)
    : spec_(spec), base_(base_lr) {
  validate(spec);
  if (steps_per_epoch <= 0 || epochs <= 0)
    throw InputError("learning-rate schedule: nothing to train (" + std::to_string(epochs) + " epochs of " +
                     std::to_string(steps_per_epoch) + " steps; is the training data empty?)");
  total_ = steps_per_epoch * epochs;
  if (spec.warmup_steps > 0)
    warmup_ = spec.warmup_steps;
  else
    warmup_ = static_cast<int64_t>(std::llround(spec.warmup_epochs * static_cast<double>(steps_per_epoch)));
  if (warmup_ > total_)
    throw InputError("schedule warm-up (" + std::to_string(warmup_) + " steps) is longer than the training (" +
                     std::to_string(total_) + " steps = " + std::to_string(epochs) + " epochs x " +
                     std::to_string(steps_per_epoch) + "): shorten warmup_epochs/warmup_steps");
  for (double m : spec.milestones)
    milestone_steps_.push_back(static_cast<int64_t>(std::llround(m * static_cast<double>(steps_per_epoch))));
}

double LrSchedule::lr_at(int64_t step) const {
  const int64_t t = std::clamp<int64_t>(step, 0, total_);
  double factor = 1.0;
  if (warmup_ > 0) {
    const double f0 = spec_.warmup_start_factor;
    factor = f0 + (1.0 - f0) * static_cast<double>(std::min(t, warmup_)) / static_cast<double>(warmup_);
  }
  if (spec_.type == "step") {
    auto passed = std::upper_bound(milestone_steps_.begin(), milestone_steps_.end(), t) - milestone_steps_.begin();
    return base_ * factor * std::pow(spec_.gamma, static_cast<double>(passed));
  }
  if (spec_.type == "cosine" && t >= warmup_) {
    const double span = static_cast<double>(std::max<int64_t>(1, total_ - warmup_));
    const double mn = spec_.min_lr;
    return mn + (base_ - mn) * (1.0 + std::cos(M_PI * static_cast<double>(t - warmup_) / span)) / 2.0;
  }
  return base_ * factor;
}

std::string LrSchedule::describe() const {
  std::ostringstream s;
  s << spec_.type << "(lr " << base_;
  if (spec_.type == "cosine") s << " -> " << spec_.min_lr;
  if (spec_.type == "step") {
    s << ", x" << spec_.gamma << " at epochs [";
    for (size_t i = 0; i < spec_.milestones.size(); ++i) s << (i ? ", " : "") << spec_.milestones[i];
    s << "]";
  }
  s << ", " << total_ << " steps";
  if (warmup_ > 0) s << ", warm-up " << warmup_ << " steps from " << base_ * spec_.warmup_start_factor;
  s << ")";
  return s.str();
}

}  // namespace mc::train
