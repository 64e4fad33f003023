/// Gradual depth pruning: residual blocks faded out during the next `finetune`, then removed.
///
/// `prune_blocks: {blocks: [...], fade_epochs: F}` gates each chosen block's branch
/// (gate_residual_block: add(x, g * branch(x))) instead of removing it at once. This modifier lowers
/// g linearly from 1 to 0 over the first F epochs of the fine-tune, after each optimizer step, with
/// the branch's parameters frozen (constants: trained, they would grow to undo the gate, and the
/// model would fall apart when the branch goes):
///
///   g_t = max(0, 1 - t / round(F * steps_per_epoch)),   t = optimizer steps done
///
/// so the rest of the network adapts while the branch's contribution shrinks, instead of taking the
/// whole change in one step. When g reaches 0 the branch contributes nothing and the blocks are
/// removed from the graph (the trainer rebuilds its executor and optimizer; momentum of the
/// remaining parameters is kept); the remaining epochs train the model without them. A fine-tune
/// that ends before (stopped early) removes them at its end.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pruning/residual_blocks.h"
#include "train/modifier.h"

namespace mc::prune {

class BlockFadeModifier : public train::Modifier {
 public:
  /// `gates[i]` is the gate tensor of `blocks[i]` (from gate_residual_block).
  BlockFadeModifier(std::vector<ResidualBlock> blocks, std::vector<std::string> gates, double fade_epochs);

  std::string name() const override { return "block_fade"; }
  void on_train_begin(train::TrainContext& ctx) override;
  void on_step_end(train::TrainContext& ctx) override;
  void on_train_end(train::TrainContext& ctx) override;

  /// The gate after `steps_done` optimizer steps (fade over `fade_steps` steps).
  static double gate_at(int64_t steps_done, int64_t fade_steps);
  bool removed() const { return removed_; }
  int64_t removed_at_step() const { return removed_at_; }

 private:
  void remove(train::TrainContext& ctx, int64_t steps_done);

  std::vector<ResidualBlock> blocks_;
  std::vector<std::string> gates_;
  double fade_epochs_;
  int64_t fade_steps_ = 1;
  bool removed_ = false;
  int64_t removed_at_ = -1;
};

}  // namespace mc::prune
