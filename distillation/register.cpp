#include "distillation/register.h"

#include "distillation/distill_extension.h"

namespace mc::distill {

void register_distillation(pipeline::StageRegistry& r) {
  r.training_extensions().add({"distill", "teacher-student distillation (KD, feature hints, attention transfer)",
                               [] { return std::make_unique<DistillExtension>(); }});
}

}  // namespace mc::distill
