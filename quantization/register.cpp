// The stages of the quantization folder, registered explicitly.
#include "quantization/register.h"

#include "quantization/quantize_stage.h"

namespace mc::quant {

void register_quant_stages(pipeline::StageRegistry& r) { r.add(quantize_stage_info()); }

}  // namespace mc::quant
