#include "sharing/register.h"

#include "sharing/cluster_stage.h"
#include "sharing/codebook_modifier.h"

namespace mc::share {

void register_sharing_stages(pipeline::StageRegistry& r) {
  r.add(pipeline::stage_info<ClusterStage>(
      "cluster", "weight sharing: k-means codebooks (2..256 entries) per layer or channel; a later finetune "
                 "trains the codebooks"));
  r.modifier_restorers().add("codebook",
                             [](const train::ModifierState& s) { return CodebookModifier::from_state(s); });
}

}  // namespace mc::share
