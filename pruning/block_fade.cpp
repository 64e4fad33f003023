#include "pruning/block_fade.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace mc::prune {

BlockFadeModifier::BlockFadeModifier(std::vector<ResidualBlock> blocks, std::vector<std::string> gates,
                                     double fade_epochs)
    : blocks_(std::move(blocks)), gates_(std::move(gates)), fade_epochs_(fade_epochs) {}

double BlockFadeModifier::gate_at(int64_t steps_done, int64_t fade_steps) {
  return std::max(0.0, 1.0 - static_cast<double>(steps_done) / static_cast<double>(std::max<int64_t>(fade_steps, 1)));
}

void BlockFadeModifier::on_train_begin(train::TrainContext& ctx) {
  fade_steps_ = std::max<int64_t>(1, std::llround(fade_epochs_ * static_cast<double>(ctx.steps_per_epoch)));
  fade_steps_ = std::min(fade_steps_, std::max<int64_t>(ctx.total_steps, 1));
  for (const std::string& g : gates_) ctx.model->tensors.at(g).fill_(1.0);
  int64_t frozen = 0;
  for (const ResidualBlock& b : blocks_) frozen += freeze_residual_branch(*ctx.model, b);
  if (frozen > 0) ctx.request_rebuild();
  std::string names;
  for (const ResidualBlock& b : blocks_) names += (names.empty() ? "" : ", ") + b.scope;
  spdlog::info("prune_blocks: fading out {} over {} steps ({} epoch(s), {} branch tensors frozen), then removing them",
               names, fade_steps_, fade_epochs_, frozen);
}

void BlockFadeModifier::on_step_end(train::TrainContext& ctx) {
  if (removed_) return;
  const double g = gate_at(ctx.step + 1, fade_steps_);
  if (g > 0.0) {
    for (const std::string& name : gates_) ctx.model->tensors.at(name).fill_(g);
    return;
  }
  remove(ctx, ctx.step + 1);
}

void BlockFadeModifier::on_train_end(train::TrainContext& ctx) {
  if (removed_) return;
  spdlog::warn("prune_blocks: the fine-tune ended after {} of the {} fade steps; removing the blocks now", ctx.step,
               fade_steps_);
  remove(ctx, ctx.step);
}

void BlockFadeModifier::remove(train::TrainContext& ctx, int64_t steps_done) {
  for (const ResidualBlock& b : blocks_) remove_residual_block(*ctx.model, b);
  removed_ = true;
  removed_at_ = steps_done;
  ctx.request_rebuild();
  spdlog::info("prune_blocks: removed {} faded block(s) after step {}; params now {}", blocks_.size(), removed_at_,
               ctx.model->num_params());
}

}  // namespace mc::prune
