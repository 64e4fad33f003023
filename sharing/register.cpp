#include "sharing/register.h"

#include "sharing/cluster_stage.h"
#include "sharing/codebook_modifier.h"
#include "sharing/share_stage.h"

namespace mc::share {

void register_sharing_stages(pipeline::StageRegistry& r) {
  r.add(pipeline::stage_info<ClusterStage>(
      "cluster", "weight sharing: k-means codebooks (2..256 entries) per layer or channel; a later finetune "
                 "trains the codebooks"));
  r.add(pipeline::stage_info<ShareStage>(
      "share", "parameter sharing for linear layers: HashedNets (hashed, k or ratio) or block-circulant (block); "
               "a later finetune trains the shared values"));
  r.modifier_restorers().add("codebook",
                             [](const train::ModifierState& s) { return CodebookModifier::from_state(s); });
}

}  // namespace mc::share
