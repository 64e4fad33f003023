/// The stages of the weight-sharing folder.
#pragma once
#include "pipeline/stage.h"

namespace mc::share {

void register_sharing_stages(pipeline::StageRegistry& r);

}  // namespace mc::share
