#include "cli/stage_registry.h"

#include "distillation/register.h"
#include "export/export_stage.h"
#include "lowrank/register.h"
#include "pruning/register.h"
#include "quantization/register.h"
#include "sharing/register.h"

namespace mc::cli {

const pipeline::StageRegistry& stage_registry() {
  static pipeline::StageRegistry reg = [] {
    pipeline::StageRegistry r;
    pipeline::register_pipeline_stages(r);
    exporter::register_export_stages(r);
    quant::register_quant_stages(r);
    distill::register_distillation(r);
    prune::register_prune_stages(r);
    lowrank::register_lowrank_stages(r);
    share::register_sharing_stages(r);
    return r;
  }();
  return reg;
}

}  // namespace mc::cli
