#include "pipeline/stages/train_stage.h"

#include <spdlog/spdlog.h>

#include "distributed/world.h"
#include "pipeline/data_context.h"
#include "train/trainer.h"

namespace mc::pipeline {

TrainStageDefaults::TrainStageDefaults() {
  epochs = 10;
  optimizer.type = "sgd";
  optimizer.lr = 0.1;
  optimizer.momentum = 0.9;
  optimizer.nesterov = true;
  optimizer.weight_decay = 5e-4;
  schedule.type = "cosine";
}

FinetuneStageDefaults::FinetuneStageDefaults() {
  epochs = 2;
  optimizer.type = "sgd";
  optimizer.lr = 0.01;
  optimizer.momentum = 0.9;
  optimizer.weight_decay = 5e-4;
  schedule.type = "cosine";
}

std::optional<NextTraining> next_training_stage(const recipe::Recipe& recipe, size_t self) {
  for (size_t j = self + 1; j < recipe.stages.size(); ++j) {
    const recipe::StageEntry& st = recipe.stages[j];
    if (st.name != "finetune" && st.name != "train") continue;
    NextTraining n;
    n.path = "stages." + std::to_string(j) + "." + st.name;
    n.epochs = st.name == "finetune" ? FinetuneStageDefaults().epochs : TrainStageDefaults().epochs;
    const recipe::ConfigNode* e = st.options.is_map() ? st.options.find("epochs") : nullptr;
    if (e && e->is_scalar()) {
      try {
        n.epochs = std::stoll(e->value());
      } catch (const std::exception&) {  // a malformed value is the stage's own option error
      }
    }
    return n;
  }
  return std::nullopt;
}

void run_training(RunContext& ctx, const TrainStageOptions& opts, const std::string& label) {
  auto train_loader = ctx.data.loader("train", true, /*shard=*/true);
  std::unique_ptr<data::DataLoader> val_loader;
  if (opts.validate_each_epoch && ctx.data.has("val")) val_loader = ctx.data.loader("val", false, /*shard=*/true);
  train::TrainOptions to = opts.to_train_options(static_cast<uint64_t>(ctx.recipe.seed), ctx.quiet, label);
  to.sync_batch_norm = ctx.recipe.distributed.sync_batch_norm;
  to.bucket_mb = ctx.recipe.distributed.bucket_mb;
  to.step_trace = ctx.step_trace;
  train::Trainer trainer(ctx.model, to);
  std::vector<std::string> mods;
  for (auto& m : ctx.modifiers) {
    trainer.add_modifier(m);
    mods.push_back(m->name());
  }
  const auto extensions = opts.used_extensions();
  for (auto& ext : extensions)
    for (auto& m : ext->begin(ctx)) {
      trainer.add_modifier(m);
      mods.push_back(m->name());
    }
  train::TrainResult res = trainer.fit(*train_loader, val_loader.get());
  ctx.modifiers.clear();
  nlohmann::json epochs = nlohmann::json::array();
  for (auto& e : res.epochs) {
    nlohmann::json j{{"epoch", e.epoch + 1}, {"loss", e.loss}, {"train_top1", e.train_top1}, {"img_per_s", e.img_per_s},
                     {"lr", e.lr}, {"seconds", e.seconds}};
    if (e.has_val) j["val_top1"] = e.val.top1;
    if (dist::world().distributed() && e.steps > 0) {
      const double ms = 1000.0 / static_cast<double>(e.steps);
      j["comm_ms_per_step"] = {{"grad_allreduce", e.comm_grad_seconds * ms},
                               {"sync", e.comm_sync_seconds * ms},
                               {"loss_allreduce", e.comm_loss_seconds * ms}};
    }
    epochs.push_back(j);
  }
  ctx.details["epochs"] = epochs;
  ctx.details["steps"] = res.steps;
  ctx.details["modifiers"] = mods;
  ctx.details["train_seconds"] = res.seconds;
  for (auto& ext : extensions) ext->end(ctx, res);
}

void TrainStage::run(RunContext& ctx) { run_training(ctx, options_, "train"); }
void FinetuneStage::run(RunContext& ctx) { run_training(ctx, options_, "finetune"); }

}  // namespace mc::pipeline
