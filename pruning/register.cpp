#include "pruning/register.h"

#include "pruning/agp.h"
#include "pruning/block_prune_stage.h"
#include "pruning/channel_prune.h"
#include "pruning/prune_stage.h"
#include "pruning/sensitivity_stage.h"

namespace mc::prune {

void register_prune_stages(pipeline::StageRegistry& r) {
  r.add(pipeline::stage_info<PruneStage>(
      "prune", "unstructured pruning: magnitude (one shot or gradual AGP over the next finetune) or N:M"));
  r.add(pipeline::stage_info<SensitivityStage>(
      "sensitivity", "prune each layer alone at several ratios and chart top-1 (sensitivity.json/.csv/.svg)"));
  r.add(pipeline::stage_info<ChannelPrune>(
      "prune_channels", "structured pruning: remove whole channels (dependency groups), model shrinks"));
  r.add(pipeline::stage_info<BlockPrune>(
      "prune_blocks", "depth pruning: remove whole residual blocks with an identity shortcut"));
  r.modifier_restorers().add("agp_pruning", [](const train::ModifierState& s) { return AgpModifier::from_state(s); });
}

}  // namespace mc::prune
