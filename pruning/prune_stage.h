/// The `prune` stage (unstructured): magnitude pruning (one shot, or gradual with AGP over the next
/// finetune) and N:M semi-structured sparsity.
///
///   - prune: {method: magnitude, sparsity: 0.9, scope: global, layers: {"layer3.*": 0.95},
///             exclude: [conv1, fc]}
///   - prune: {method: magnitude, sparsity: 0.9, schedule: {type: agp, start_epoch: 0,
///             end_epoch: 2, frequency: 50, initial_sparsity: 0.5}}
///   - prune: {method: nm, n: 2, m: 4, exclude: [fc]}
///
/// One shot: the weights are zeroed now and a MaskModifier keeps them at zero through the next
/// finetune. Gradual: nothing changes now; an AgpModifier prunes during the next finetune.
/// `layers` overrides the sparsity of matching scopes (pruned layer-wise, last match wins); with
/// `scope: global` the other layers share one threshold. Biases and BatchNorm are never pruned.
#pragma once
#include "pipeline/stage.h"

namespace mc::prune {

struct AgpScheduleOptions {
  std::string type = "agp";
  double start_epoch = 0.0;
  double end_epoch = 1.0;
  int64_t frequency = 100;
  double initial_sparsity = 0.0;
  void visit(recipe::Visitor& v);
};

struct PruneOptions {
  std::string method = "magnitude";
  double sparsity = 0.5;
  std::string scope = "global";
  recipe::ConfigNode layers;
  recipe::ConfigNode exclude;
  int64_t n = 2;
  int64_t m = 4;
  bool has_schedule = false;
  AgpScheduleOptions schedule;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
};

class PruneStage : public pipeline::StageWithOptions<PruneOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  void run(pipeline::RunContext& ctx) override;

 private:
  void run_magnitude(pipeline::RunContext& ctx);
  void run_nm(pipeline::RunContext& ctx);
};

}  // namespace mc::prune
