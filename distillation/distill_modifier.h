// DistillModifier: the teacher-student losses inside a Trainer run.
//
// Each step the teacher (its own ir::Model, run in inference mode under no-grad, so it is never
// trained and BatchNorm uses running statistics) sees the same (augmented) batch as the student.
// extra_loss() returns alpha * kd + hint_weight * sum(hint_*) + attention_weight * sum(at_*), and
// task_loss_weight() = 1 - alpha scales the trainer's cross-entropy, so the objective is the one
// documented in losses.h.
//
// Hints pair a student value with a teacher value (by value name or node scope, see
// resolve_value): N x C x H x W feature maps, N x T x D token features (transformer blocks) or
// N x D vectors. When the widths differ a learned adapter maps the student value and is trained
// with the student (extra_parameters()): a 1x1 conv for feature maps (student -> teacher channels),
// a Linear over the last dim for tokens and vectors, both with bias and PyTorch's default
// initialisation. Spatial sizes (token counts) must match.
//
// With cache_size > 0 the teacher's logits are kept per dataset index (TrainContext::
// batch_indices): each sample's logits are computed the first time it is seen, later epochs
// cost only the student. Valid only without random augmentation (the extension checks it).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/model.h"
#include "runtime/executor.h"
#include "train/modifier.h"

namespace mc::distill {

/// The value a hint scope names in `g`: a value of that name, else the first output of the last
/// node with that module scope (`layer2.0.relu` = the block's output). nullptr when neither exists.
const ir::Value* resolve_value(const ir::Graph& g, const std::string& scope);
/// Value names and node scopes of `g` (candidates for did-you-mean).
std::vector<std::string> scope_candidates(const ir::Graph& g);

struct FeaturePair {
  std::string student, teacher;  // scopes or value names
  std::string where;             // recipe location, for errors ("recipe.yaml:12:9")
};

struct DistillSettings {
  double temperature = 4.0;
  double alpha = 0.9;
  std::vector<FeaturePair> hints;
  double hint_weight = 1.0;
  std::vector<FeaturePair> attention;
  double attention_weight = 500.0;
  /// > 0: cache teacher logits for dataset indices [0, cache_size).
  int64_t cache_size = 0;
  uint64_t seed = 0;             // adapter initialisation
};

/// Per-epoch means of the loss terms (unweighted) and what the teacher computed.
struct DistillEpoch {
  int64_t epoch = 0;  // 0-based
  std::map<std::string, double> terms;  // kd, ce, hint_<student scope>, at_<student scope>
  int64_t teacher_samples = 0;          // samples the teacher ran on this epoch
  bool has_val = false;
  double val_top1 = 0.0;                // student's
};

class DistillModifier : public train::Modifier {
 public:
  /// Resolves every hint/attention scope in both models and checks the shapes: InputError naming
  /// the scope, the model, close matches and the recipe location otherwise.
  DistillModifier(std::shared_ptr<ir::Model> teacher, const ir::Model& student, DistillSettings settings);
  ~DistillModifier() override;

  std::string name() const override { return "distill"; }
  void on_train_begin(train::TrainContext& ctx) override;
  void on_epoch_begin(train::TrainContext& ctx, int64_t epoch) override;
  double task_loss_weight(train::TrainContext& ctx) override;
  at::Tensor extra_loss(train::TrainContext& ctx, const at::Tensor& images, const at::Tensor& outputs,
                        const at::Tensor& labels) override;
  std::vector<std::pair<std::string, at::Tensor>> extra_parameters() override;
  void on_epoch_end(train::TrainContext& ctx, int64_t epoch) override;
  void on_train_end(train::TrainContext& ctx) override;

  const ir::Model& teacher() const { return *teacher_; }
  const std::vector<DistillEpoch>& epochs() const { return epochs_; }
  /// Adapter of hint i: {weight Ct x Cs x 1 x 1, bias Ct}, or undefined tensors when none is needed.
  std::pair<at::Tensor, at::Tensor> adapter(size_t hint) const;
  /// The teacher logits of the current step (for tests).
  const at::Tensor& last_teacher_logits() const { return last_teacher_logits_; }

 private:
  struct Feature {
    FeaturePair pair;
    std::string student_value, teacher_value;
    at::Tensor weight, bias;  // adapter (hints only)
    at::Tensor student_out, teacher_out;  // captured this step
  };
  static void init_adapter(Feature& f, const ir::Shape& student, const ir::Shape& teacher, int64_t width, uint64_t seed);
  void attach_student(train::TrainContext& ctx);
  void detach_student(train::TrainContext& ctx);
  at::Tensor teacher_logits(train::TrainContext& ctx, const at::Tensor& images);

  std::shared_ptr<ir::Model> teacher_;
  std::unique_ptr<runtime::Executor> teacher_exec_;
  DistillSettings s_;
  std::vector<Feature> hints_, attention_;
  std::vector<int> student_hooks_;
  at::Tensor cache_;          // cache_size x C
  std::vector<char> cached_;  // per dataset index
  at::Tensor last_teacher_logits_;
  std::map<std::string, double> sums_;
  int64_t seen_ = 0, teacher_samples_ = 0;
  std::vector<DistillEpoch> epochs_;
};

}  // namespace mc::distill
