/// The `prune_blocks` stage (structured depth pruning): removes whole residual blocks with an
/// identity shortcut (pruning/residual_blocks.h), so the exported model has fewer layers.
///
///   - prune_blocks: {blocks: [layer1.0]}        remove the blocks whose scope a glob matches
///   - prune_blocks: {count: 1, batches: 8}      remove the `count` blocks whose removal alone
///                                               raises the cross-entropy on data.calib least
///
/// Every candidate's MACs (and, with `count`, its loss increase) go into the report, so users see
/// what each block costs. Channel pruning (`prune_channels`) can follow in the same recipe.
#pragma once
#include "pipeline/stage.h"

namespace mc::prune {

struct BlockPruneOptions {
  recipe::ConfigNode blocks;
  int64_t count = 0;
  int64_t batches = 8;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
};

class BlockPrune : public pipeline::StageWithOptions<BlockPruneOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  void run(pipeline::RunContext& ctx) override;
  std::vector<std::string> needs_data() const override {
    return options_.count > 0 ? std::vector<std::string>{"calib"} : std::vector<std::string>{};
  }
  std::vector<LabelUse> needs_labels() const override {
    if (needs_data().empty()) return {};
    return {{"calib", "count: ranks blocks by the loss increase"}};
  }
};

}  // namespace mc::prune
