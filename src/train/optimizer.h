// Optimizers on plain lists of parameter tensors: SGD (momentum, Nesterov, weight decay) and AdamW.
// The update math is that of torch.optim.SGD / torch.optim.AdamW (PyTorch 1.13, single-tensor
// path), done with in-place ATen ops under at::NoGradGuard, so a step here and a step there give
// the same parameters.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mc::train {

/// What the recipe's `optimizer:` block names. Fields that do not apply to `type` are ignored.
struct OptimizerSpec {
  std::string type = "sgd";  // sgd | adamw
  double lr = 0.01;          // base learning rate (the schedule scales it per step)
  double weight_decay = 0.0;
  /// No weight decay on tensors with one dimension (biases, BatchNorm/LayerNorm weights), as
  /// most training recipes do. When false every parameter decays.
  bool no_decay_1d = true;
  // sgd
  double momentum = 0.0;
  bool nesterov = false;  // needs momentum > 0
  // adamw
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

/// Throws InputError (naming the field and the accepted range) for an invalid spec.
void validate(const OptimizerSpec& spec);

class Optimizer {
 public:
  /// `params` are updated in place (they are the model's tensors). `names` (same length, or empty)
  /// name them in messages and state dicts and decide which ones keep state across set_params().
  Optimizer(const OptimizerSpec& spec, std::vector<at::Tensor> params, std::vector<std::string> names);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a gradient (parameters without one are skipped,
  /// as PyTorch does).
  virtual void step() = 0;
  /// Drops the gradients (sets them undefined: backward then writes fresh ones without a
  /// zero fill and an add, like zero_grad(set_to_none=True)).
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  const OptimizerSpec& spec() const { return spec_; }
  /// Weight decay applied to parameter i (0 for 1-d tensors with no_decay_1d).
  double weight_decay_of(size_t i) const { return decay_.at(i); }

  const std::vector<at::Tensor>& params() const { return params_; }
  const std::vector<std::string>& names() const { return names_; }
  /// Replaces the parameter list (after a graph change: a pruned or re-parametrised model).
  /// State (momentum buffers, Adam moments) is kept for names that remain with the same shape
  /// and dropped for the others.
  void set_params(std::vector<at::Tensor> params, std::vector<std::string> names);

  /// Optimizer state as named tensors ("<param>.<buffer>", plus "step" counters as 0-d int64
  /// tensors), for checkpoints; load_state() restores it (unknown or mismatched entries are
  /// an InputError).
  std::map<std::string, at::Tensor> state() const;
  void load_state(const std::map<std::string, at::Tensor>& state);

 protected:
  /// Per-parameter buffers, by buffer name ("momentum_buffer", "exp_avg", "exp_avg_sq").
  struct ParamState {
    std::map<std::string, at::Tensor> buffers;
    int64_t step = 0;
  };
  OptimizerSpec spec_;
  double lr_;
  std::vector<at::Tensor> params_;
  std::vector<std::string> names_;
  std::vector<double> decay_;
  std::vector<ParamState> state_;

 private:
  void compute_decay();
};

/// torch.optim.SGD(lr, momentum, dampening=0, weight_decay, nesterov).
class Sgd : public Optimizer {
 public:
  Sgd(const OptimizerSpec& spec, std::vector<at::Tensor> params, std::vector<std::string> names = {});
  void step() override;
};

/// torch.optim.AdamW(lr, betas, eps, weight_decay, amsgrad=False).
class AdamW : public Optimizer {
 public:
  AdamW(const OptimizerSpec& spec, std::vector<at::Tensor> params, std::vector<std::string> names = {});
  void step() override;
};

/// Validates `spec` and builds the optimizer it names.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, std::vector<at::Tensor> params,
                                          std::vector<std::string> names = {});

/// Scales all gradients so that their global L2 norm is at most `max_norm` (the math of
/// torch.nn.utils.clip_grad_norm_). Returns the norm before clipping (0 when no gradients).
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace mc::train
