/// The `cluster` stage: weight sharing by k-means (sharing/kmeans.h) on conv2d / linear / matmul
/// layers with a stored weight. Options: sharing/cluster_options.h. Per layer, in order: `exclude`
/// leaves it as it is; the last `layers:` entry matching it gives its codebook size, else the
/// stage's `bits` / `k`. Each chosen weight is replaced by its codebook values (in place), its
/// storage width becomes the index bits (RunContext::storage_bits, the report's bytes as stored;
/// the codebook itself is in the details), and a CodebookModifier (sharing/codebook_modifier.h)
/// is left pending, so a later `finetune` / `train` trains the codebooks (kept across --resume).
///
/// Refused (InputError at the recipe location, before the model changes): a glob matching no layer
/// (at the glob), `exclude` leaving nothing, a weight that is quantized (behind fake_quant /
/// binary_quant / ternary_quant; a `quantize` stage before `cluster` in the recipe is refused when
/// the plan is built), and a layer that is already clustered: by an earlier `cluster`
/// stage of the recipe (found by check_model(), so `compress validate` reports it and a run writes
/// nothing), or stored at fewer than 32 bits by an earlier stage of this run (found when the stage
/// runs: after a stage that changes the layers, check_model() is not reached).
///
/// Report (`details`): per layer scope, param, op, k, index bits, init, relative weight error
/// ||W - W_shared|| / ||W||, zeros kept, Lloyd iterations, bytes as fp32 and as index bits plus a
/// float32 codebook; totals.
#pragma once
#include <vector>

#include "pipeline/stage.h"
#include "sharing/cluster_options.h"

namespace mc::share {

/// One layer the stage clusters.
struct PlannedCluster {
  pipeline::WeightLayer layer;
  int64_t k = 0;
};

/// The layers `o` selects in `model` with their codebook sizes; InputErrors (globs, quantized
/// weights) as described above, `where` locating the ones without a glob of their own.
std::vector<PlannedCluster> plan_clusters(const ir::Model& model, const ClusterOptions& o,
                                          const recipe::Location& where);

class ClusterStage : public pipeline::StageWithOptions<ClusterOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  /// Remembers this stage's location and the earlier `cluster` stages of the recipe.
  void check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const override;
  /// Globs and quantized weights against the model; a layer an earlier `cluster` stage clusters.
  void check_model(const ir::Model& model, recipe::Diagnostics& diag) const override;
  void run(pipeline::RunContext& ctx) override;
  bool keeps_layers() const override { return true; }  // values change, scopes and shapes do not

 private:
  struct Earlier {
    size_t index;
    recipe::Location loc;
    ClusterOptions options;
  };
  mutable recipe::Location where_;
  mutable std::vector<Earlier> earlier_;
};

}  // namespace mc::share
