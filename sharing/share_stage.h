/// The `share` stage: parameter sharing from a fixed index for linear layers (options:
/// sharing/share_options.h). Each chosen layer's weight W [out, in] is replaced by the op
/// `shared_weight` (src/ir/shared_index.h) reading a param `<weight>.shared` of K float32 values:
///   hashed     HashedNets (Chen et al. 2015): V[i][j] = sign(i, j) w[h(i, j)], K = k or
///              ceil(out * in / ratio);
///   circulant  block-circulant (Cheng et al. 2015; CirCNN): b x b blocks, each one vector of b
///              values; out / in not multiples of b are the top-left crop of the padded matrix.
/// The dense param is removed; w starts at the least-squares projection of W onto the shared form
/// (per stored value the mean of sign * W over its positions), and a later `train` / `finetune`
/// trains w through autograd like any param. Per layer, in order: `exclude` leaves it dense; the
/// last `layers:` entry matching it gives its size, else the stage's.
///
/// Refused (InputError at the recipe location, before the model changes; check_model() runs them at
/// `compress validate`): a glob matching no linear layer (a glob matching only conv2d / matmul
/// layers says that share takes linear layers only), a layer without a size, a quantized or
/// non-float32 weight, k larger than out * in, block larger than min(out, in).
///
/// Report (`details`): per layer scope, method, virtual weights (out * in), stored values (K),
/// ratio, the projection's relative error ||W - V|| / ||W||, seed or block; totals.
#pragma once
#include <vector>

#include "ir/shared_index.h"
#include "pipeline/stage.h"
#include "sharing/share_options.h"

namespace mc::share {

/// One layer the stage shares.
struct PlannedShare {
  pipeline::WeightLayer layer;
  ir::SharingSpec spec;
};

/// The layers `o` selects in `model` with their specs; InputErrors as described above, `where`
/// locating the ones without a glob of their own.
std::vector<PlannedShare> plan_shares(const ir::Model& model, const ShareOptions& o, const recipe::Location& where);

/// Rewrites the layer of `p` in `model` to read its weight from `shared_weight` over a new param
/// initialised with the projection; returns the report row.
nlohmann::json apply_share(ir::Model& model, const PlannedShare& p);

class ShareStage : public pipeline::StageWithOptions<ShareOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  void check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const override;
  void check_model(const ir::Model& model, recipe::Diagnostics& diag) const override;
  void run(pipeline::RunContext& ctx) override;
  bool keeps_layers() const override { return false; }  // the weights of the shared layers change form

 private:
  mutable recipe::Location where_;
};

}  // namespace mc::share
