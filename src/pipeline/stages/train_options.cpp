#include "pipeline/stages/train_options.h"

#include <algorithm>

namespace mc::pipeline {

using recipe::Spec;

void TrainStageOptions::visit(recipe::Visitor& v) {
  v.field("epochs", epochs, "passes over the training data", Spec::range(1, 100000));
  v.section("optimizer", [&](recipe::Visitor& o) {
    o.field("type", optimizer.type, "optimizer", Spec::one_of({"sgd", "adamw"}));
    o.field("lr", optimizer.lr, "base learning rate", Spec::range(0, 100));
    o.field("momentum", optimizer.momentum, "sgd momentum", Spec::range(0, 1));
    o.field("nesterov", optimizer.nesterov, "sgd Nesterov momentum");
    o.field("weight_decay", optimizer.weight_decay, "L2 (sgd) / decoupled (adamw) weight decay", Spec::range(0, 1));
    o.field("no_decay_1d", optimizer.no_decay_1d, "no weight decay on biases and norm weights");
    o.field("beta1", optimizer.beta1, "adamw beta1", Spec::range(0, 1));
    o.field("beta2", optimizer.beta2, "adamw beta2", Spec::range(0, 1));
    o.field("eps", optimizer.eps, "adamw epsilon", Spec::range(0, 1));
  }, "optimizer settings");
  v.section("schedule", [&](recipe::Visitor& s) {
    s.field("type", schedule.type, "learning-rate schedule", Spec::one_of({"constant", "step", "cosine"}));
    s.field("milestones", schedule.milestones, "step: epochs after which lr *= gamma");
    s.field("gamma", schedule.gamma, "step: decay factor", Spec::range(0, 1));
    s.field("min_lr", schedule.min_lr, "cosine: final learning rate", Spec::at_least(0));
    s.field("warmup_epochs", schedule.warmup_epochs, "linear warm-up length in epochs", Spec::at_least(0));
    s.field("warmup_start_factor", schedule.warmup_start_factor, "warm-up starts at this fraction of lr", Spec::range(1e-6, 1));
  }, "learning-rate schedule");
  v.field("label_smoothing", label_smoothing, "cross-entropy label smoothing", Spec::range(0, 0.999));
  v.field("grad_clip_norm", grad_clip_norm, "clip gradients to this global L2 norm (0 = off)", Spec::at_least(0));
  v.field("max_steps_per_epoch", max_steps_per_epoch, "train only this many batches per epoch (0 = all)", Spec::at_least(0));
  v.field("validate_each_epoch", validate_each_epoch, "evaluate data.val after every epoch");
  if (!extension_table) return;
  const bool reading = dynamic_cast<recipe::Reader*>(&v) != nullptr;
  const bool writing = recipe::is_writer(v);
  for (const auto& info : extension_table->all()) {
    std::shared_ptr<TrainingExtension> inst;
    for (auto& [k, e] : extension_instances)
      if (k == info.key) inst = e;
    if (!inst) {
      inst = info.make();
      extension_instances.emplace_back(info.key, inst);
    }
    const bool used = std::find(extensions_used.begin(), extensions_used.end(), info.key) != extensions_used.end();
    if (writing && !used) continue;  // the echo shows only the sections the recipe has
    // The Reader sets `present` before it runs the body: a section the recipe does not have is not
    // read at all (its required keys are required only when the section is used).
    bool present = false;
    v.section(info.key.c_str(), [&](recipe::Visitor& s) {
      if (!reading || present) inst->visit(s);
    }, info.doc.c_str(), &present);
    if (reading && present && !used) extensions_used.push_back(info.key);
  }
}

void TrainStageOptions::validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
  for (auto& [key, inst] : extension_instances)
    if (std::find(extensions_used.begin(), extensions_used.end(), key) != extensions_used.end())
      if (const recipe::ConfigNode* n = node.find(key)) inst->validate(*n, diag);
}

std::vector<std::shared_ptr<TrainingExtension>> TrainStageOptions::used_extensions() const {
  std::vector<std::shared_ptr<TrainingExtension>> out;
  for (auto& [key, inst] : extension_instances)
    if (std::find(extensions_used.begin(), extensions_used.end(), key) != extensions_used.end()) out.push_back(inst);
  return out;
}

train::TrainOptions TrainStageOptions::to_train_options(uint64_t seed, bool quiet, const std::string& label) const {
  train::TrainOptions t;
  t.epochs = epochs;
  t.optimizer = optimizer;
  t.schedule = schedule;
  t.label_smoothing = label_smoothing;
  t.grad_clip_norm = grad_clip_norm;
  t.seed = seed;
  t.max_steps_per_epoch = max_steps_per_epoch;
  t.quiet = quiet;
  t.label = label;
  return t;
}

}  // namespace mc::pipeline
