/// The stages of the pruning folder (unstructured and structured).
#pragma once
#include "pipeline/stage.h"

namespace mc::prune {

void register_prune_stages(pipeline::StageRegistry& r);

}  // namespace mc::prune
