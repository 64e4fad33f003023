// The stages of the pipeline folder, registered explicitly (no static self-registration).
#include "pipeline/stage.h"

#include "common/error.h"
#include "pipeline/stages/analyze_stage.h"
#include "pipeline/stages/simple_stages.h"
#include "pipeline/stages/train_stage.h"

namespace mc::pipeline {

void StageRegistry::add(StageInfo info, const char* file, int line) {
  registrants_.claim(info.name, call_site(file, line));
  stages_.push_back(std::move(info));
}

const StageInfo* StageRegistry::find(const std::string& name) const {
  for (auto& s : stages_)
    if (s.name == name) return &s;
  return nullptr;
}

std::unique_ptr<Stage> StageRegistry::make(const std::string& name, const recipe::ConfigNode& options,
                                           const std::string& base_dir) const {
  const StageInfo* info = find(name);
  if (!info) throw InputError("no stage '" + name + "'");
  recipe::Diagnostics diag;
  std::unique_ptr<Stage> stage = info->make(options, diag, name, base_dir);
  if (!diag.ok()) throw InputError(diag.errors().front());
  return stage;
}

std::vector<std::string> StageRegistry::names() const {
  std::vector<std::string> out;
  for (auto& s : stages_) out.push_back(s.name);
  return out;
}

void TrainingExtensions::add(TrainingExtensionInfo info, const char* file, int line) {
  registrants_.claim(info.key, call_site(file, line));
  infos_.push_back(std::move(info));
}

namespace {

// stage_info<S> for a training stage: its options see the registry's training extensions.
template <typename S>
StageInfo training_stage_info(const std::string& name, const std::string& doc,
                              std::shared_ptr<const TrainingExtensions> extensions) {
  StageInfo info = stage_info<S>(name, doc);
  info.make = [extensions](const recipe::ConfigNode& node, recipe::Diagnostics& diag, const std::string& context,
                           const std::string& base_dir) -> std::unique_ptr<Stage> {
    typename S::Options o;
    o.extension_table = extensions;
    recipe::Reader r(&node, diag, context, base_dir);
    o.visit(r);
    r.finish();
    o.validate(node, diag);
    return std::make_unique<S>(std::move(o));
  };
  info.describe = [extensions] {
    typename S::Options o;
    o.extension_table = extensions;
    recipe::Describer d;
    o.visit(d);
    return d.docs();
  };
  return info;
}

}  // namespace

void register_pipeline_stages(StageRegistry& r) {
  auto ext = r.training_extensions_ptr();
  r.add(training_stage_info<TrainStage>("train", "train the model from its current weights (a zoo model starts fresh)", ext));
  r.add(training_stage_info<FinetuneStage>("finetune", "fine-tune, driving modifiers installed by earlier stages", ext));
  r.add(stage_info<EvaluateStage>("evaluate", "top-1/top-5/loss on a data split"));
  r.add(stage_info<FoldBatchNormStage>("fold_batch_norm", "fold BatchNorm into the preceding conv/linear"));
  r.add(stage_info<OptimizeStage>("optimize", "graph clean-up: identities, constant folding, BN folding, CSE, DCE"));
  r.add(stage_info<AnalyzeStage>("analyze", "which layer breaks accuracy: per-layer SQNR against the loaded model and top-1 with each layer reverted"));
  r.add(stage_info<SaveStage>("save", "write a native checkpoint (.mcm) or the compressed archive (.mcz)"));
  r.modifier_restorers().add("mask", [](const train::ModifierState& s) { return train::MaskModifier::from_state(s); });
}

}  // namespace mc::pipeline
