/// Codebook fine-tuning (Han et al. 2016, "Deep Compression", section 3.3), installed by the
/// `cluster` stage and driven by the next `finetune` / `train` stage.
///
/// Design: the codebook is the trained quantity. Each clustered weight keeps one flat float32
/// codebook tensor (all rows' entries, [rows * k]) that the modifier hands to the trainer's
/// optimizer (extra_parameters(), named `codebook.<param>`), and a flat index per weight into it.
///   - after backward: the centroid's gradient is the sum of the gradients of every weight that
///     shares it (scatter_add over the indices), which is the exact gradient of the loss with
///     respect to the centroid, since each weight equals its centroid (the paper's equation); the
///     fixed zero entry gets gradient 0; the weight's own gradient is dropped (set undefined), so the
///     optimizer skips the weight tensor (no update, no momentum, no weight decay on it);
///   - the optimizer steps the codebooks with the stage's learning rate, schedule, momentum / Adam
///     moments, like any parameter (a codebook is 1-d: no weight decay with `no_decay_1d`);
///   - after every step: the zero entries are set to exactly 0 and every weight is written as
///     codebook[index] (a copy, so bit-exact), so the model always holds shared weights.
/// Chosen over "replace each weight's gradient by its centroid's mean gradient and let the
/// optimizer move the weights": equal weights with equal gradients stay equal in exact arithmetic,
/// but ATen's vectorised and scalar tail loops may round differently, so weights of one centroid
/// could drift apart by an ulp; it would also decay each weight separately. Here the centroids are
/// the parameters, so sharing holds by construction.
/// A weight that does not equal codebook[index] when training starts (a stage between `cluster` and
/// the training changed it, e.g. prune or fold_batch_norm) is an InputError naming it.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "train/modifier.h"

namespace mc::share {

/// One clustered weight as the modifier trains it.
struct SharedWeight {
  std::string param;    // name in Model::tensors
  at::Tensor codebook;  // float32 [rows * k]: every row's codebook, flat (the optimizer's tensor)
  at::Tensor index;     // int64, the weight's shape: position of each weight in `codebook`
  at::Tensor zero;      // int64 [rows] positions of the fixed zero entries (empty when none)
};

/// `codebook` [k] or [rows, k], `indices` into a row (kmeans.h Clustered) -> the flat form.
SharedWeight shared_weight(const std::string& param, const at::Tensor& codebook, const at::Tensor& indices,
                           bool zero_entry, int64_t channel_dim);

class CodebookModifier : public train::Modifier {
 public:
  explicit CodebookModifier(std::vector<SharedWeight> weights);

  std::string name() const override { return "codebook"; }
  void on_train_begin(train::TrainContext& ctx) override;
  std::vector<std::pair<std::string, at::Tensor>> extra_parameters() override;
  void on_after_backward(train::TrainContext& ctx) override;
  void on_step_end(train::TrainContext& ctx) override;
  void on_train_end(train::TrainContext& ctx) override;

  const std::vector<SharedWeight>& weights() const { return weights_; }
  /// kind "codebook": the params in settings, codebook / index / zero tensors per param.
  std::optional<train::ModifierState> pending_state() const override;
  static std::shared_ptr<CodebookModifier> from_state(const train::ModifierState& state);

 private:
  void write_weights(train::TrainContext& ctx);
  std::vector<SharedWeight> weights_;
};

}  // namespace mc::share
