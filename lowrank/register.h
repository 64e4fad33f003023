/// The stages of the low-rank folder.
#pragma once
#include "pipeline/stage.h"

namespace mc::lowrank {

void register_lowrank_stages(pipeline::StageRegistry& r);

}  // namespace mc::lowrank
