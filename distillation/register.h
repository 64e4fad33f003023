// Registers the distillation folder with the pipeline: the `distill:` section of `train`/`finetune`.
#pragma once
#include "pipeline/stage.h"

namespace mc::distill {

void register_distillation(pipeline::StageRegistry& r);

}  // namespace mc::distill
