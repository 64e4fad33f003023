// The stages of the pipeline folder, registered explicitly (no static self-registration).
#include "pipeline/stage.h"
#include "pipeline/stages/simple_stages.h"
#include "pipeline/stages/train_stage.h"

namespace mc::pipeline {

void StageRegistry::add(StageInfo info) { stages_.push_back(std::move(info)); }

const StageInfo* StageRegistry::find(const std::string& name) const {
  for (auto& s : stages_)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<std::string> StageRegistry::names() const {
  std::vector<std::string> out;
  for (auto& s : stages_) out.push_back(s.name);
  return out;
}

void register_pipeline_stages(StageRegistry& r) {
  r.add(stage_info<TrainStage>("train", "train the model from its current weights (a zoo model starts fresh)"));
  r.add(stage_info<FinetuneStage>("finetune", "fine-tune, driving modifiers installed by earlier stages"));
  r.add(stage_info<EvaluateStage>("evaluate", "top-1/top-5/loss on a data split"));
  r.add(stage_info<FoldBatchNormStage>("fold_batch_norm", "fold BatchNorm into the preceding conv/linear"));
  r.add(stage_info<OptimizeStage>("optimize", "graph clean-up: identities, constant folding, BN folding, CSE, DCE"));
  r.add(stage_info<SaveStage>("save", "write a native checkpoint (.mcm)"));
}

}  // namespace mc::pipeline
