// The stages of the quantization folder, registered explicitly.
#include "quantization/register.h"

#include "quantization/qat.h"
#include "quantization/quantize_stage.h"

namespace mc::quant {

void register_quant_stages(pipeline::StageRegistry& r) {
  r.add(quantize_stage_info());
  r.modifier_restorers().add("qat", [](const train::ModifierState& s) { return QatModifier::from_state(s); });
}

}  // namespace mc::quant
