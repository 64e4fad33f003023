#include "lowrank/register.h"

#include "lowrank/decompose_stage.h"

namespace mc::lowrank {

void register_lowrank_stages(pipeline::StageRegistry& r) {
  r.add(pipeline::stage_info<DecomposeStage>(
      "decompose", "low-rank decomposition: convs (channel/spatial SVD, Tucker-2, CP) and linear layers (SVD) "
                   "become factor chains; ranks by rule or a MACs/params target"));
}

}  // namespace mc::lowrank
