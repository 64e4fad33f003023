// Registration of the quantization folder's stages (called by the CLI's stage registry).
#pragma once
#include "pipeline/stage.h"

namespace mc::quant {

/// quantize
void register_quant_stages(pipeline::StageRegistry& r);

}  // namespace mc::quant
