#include "pruning/agp.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace mc::prune {

double agp_sparsity(double s_i, double s_f, int64_t t, int64_t t0, int64_t t_end) {
  if (t < t0) return s_i;
  if (t >= t_end) return s_f;
  const double p = static_cast<double>(t - t0) / static_cast<double>(t_end - t0);
  return s_f + (s_i - s_f) * std::pow(1.0 - p, 3);
}

AgpModifier::AgpModifier(std::vector<pipeline::WeightLayer> weights, SparsityTargets final_targets,
                         AgpSchedule schedule)
    : weights_(std::move(weights)), final_(std::move(final_targets)), schedule_(schedule) {}

SparsityTargets AgpModifier::targets_at(int64_t t) const {
  SparsityTargets s = final_;
  auto at_t = [&](double f) { return agp_sparsity(std::min(schedule_.initial_sparsity, f), f, t, t0_, t_end_); };
  for (double& l : s.layer)
    if (l >= 0.0) l = at_t(l);
  s.global = at_t(final_.global);
  return s;
}

void AgpModifier::on_train_begin(train::TrainContext& ctx) {
  const auto spe = static_cast<double>(ctx.steps_per_epoch);
  t0_ = std::llround(schedule_.start_epoch * spe);
  t_end_ = std::llround(schedule_.end_epoch * spe);
  if (t_end_ <= t0_) t_end_ = t0_ + 1;
  if (t_end_ > ctx.total_steps)
    throw InputError("agp pruning: the schedule ends at epoch " + std::to_string(schedule_.end_epoch) + " (step " +
                     std::to_string(t_end_) + ") but this finetune runs " + std::to_string(ctx.epochs) +
                     " epoch(s) (" + std::to_string(ctx.total_steps) +
                     " steps); lower the prune stage's schedule.end_epoch or raise finetune.epochs");
  masks_.clear();
  updates_.clear();
  maybe_update(ctx, 0);
}

void AgpModifier::maybe_update(train::TrainContext& ctx, int64_t t) {
  if (t < t0_ || t > t_end_) return;
  if ((t - t0_) % schedule_.frequency != 0 && t != t_end_) return;
  const SparsityTargets s = targets_at(t);
  // Pruned weights are exactly zero, the smallest magnitudes, so a higher s_t keeps them pruned.
  masks_ = magnitude_masks(*ctx.model, weights_, s);
  const bool any_global = std::any_of(s.layer.begin(), s.layer.end(), [](double l) { return l < 0.0; });
  updates_.emplace_back(t, any_global ? s.global : s.layer.front());
  spdlog::debug("agp pruning: step {} sparsity {:.4f}", t, updates_.back().second);
  enforce(ctx, /*grads=*/false);
}

void AgpModifier::enforce(train::TrainContext& ctx, bool grads) {
  at::NoGradGuard no_grad;
  for (auto& [name, keep] : masks_) {
    at::Tensor& p = ctx.model->tensors.at(name);  // the optimizer's tensor (same storage)
    if (keep.scalar_type() != p.scalar_type() || keep.device() != p.device())
      keep = keep.to(p.device(), p.scalar_type());
    if (grads) {
      if (p.grad().defined()) p.grad().mul_(keep);
    } else {
      p.mul_(keep);
    }
  }
}

std::optional<train::ModifierState> AgpModifier::pending_state() const {
  nlohmann::json weights = nlohmann::json::array();
  for (const auto& w : weights_)
    weights.push_back({{"scope", w.scope}, {"op", w.op}, {"param", w.param}, {"input_dim", w.input_dim}});
  train::ModifierState s;
  s.kind = "agp_pruning";
  s.settings = {{"weights", weights},
                {"layer_targets", final_.layer},
                {"global_target", final_.global},
                {"start_epoch", schedule_.start_epoch},
                {"end_epoch", schedule_.end_epoch},
                {"frequency", schedule_.frequency},
                {"initial_sparsity", schedule_.initial_sparsity}};
  return s;
}

std::shared_ptr<AgpModifier> AgpModifier::from_state(const train::ModifierState& state) {
  const nlohmann::json& j = state.settings;
  std::vector<pipeline::WeightLayer> weights;
  for (const auto& w : j.at("weights"))
    weights.push_back({w.at("scope").get<std::string>(), w.at("op").get<std::string>(), w.at("param").get<std::string>(),
                       w.at("input_dim").get<int64_t>()});
  SparsityTargets t{j.at("layer_targets").get<std::vector<double>>(), j.at("global_target").get<double>()};
  AgpSchedule s{j.at("start_epoch").get<double>(), j.at("end_epoch").get<double>(), j.at("frequency").get<int64_t>(),
                j.at("initial_sparsity").get<double>()};
  return std::make_shared<AgpModifier>(std::move(weights), std::move(t), s);
}

void AgpModifier::on_after_backward(train::TrainContext& ctx) { enforce(ctx, /*grads=*/true); }

void AgpModifier::on_step_end(train::TrainContext& ctx) {
  enforce(ctx, /*grads=*/false);
  maybe_update(ctx, ctx.step + 1);  // ctx.step excludes the step that just finished
}

void AgpModifier::on_train_end(train::TrainContext& ctx) {
  enforce(ctx, /*grads=*/false);  // fold the final masks into the weights
  masks_.clear();
  if (updates_.empty() || updates_.back().first < t_end_)
    spdlog::warn("agp pruning: training stopped at step {} before the schedule's end (step {}); the final sparsity "
                 "was not reached", ctx.step, t_end_);
  else
    spdlog::info("agp pruning: reached sparsity {:.4f} at step {}", updates_.back().second, t_end_);
}

}  // namespace mc::prune
