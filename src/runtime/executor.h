// Executor: runs an ir::Model with ATen ops, for inference (no autograd, each value freed after its
// last use) or training (autograd through every op). Hooks observe values without changing the graph.
#pragma once
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/model.h"
#include "ir/op_registry.h"

namespace mc::runtime {

/// Called with each value the hook is attached to, as soon as it is computed.
using ValueHook = std::function<void(const ir::Value&, const at::Tensor&)>;

class Executor {
 public:
  /// Keeps a reference to `model`: its tensors are used in place (training updates them).
  /// The plan is built from the graph at construction; rebuild the Executor after a graph change.
  explicit Executor(ir::Model& model);

  /// Inference: no autograd, intermediate values freed after their last use.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);
  at::Tensor run1(const at::Tensor& input) { return run({input}).at(0); }

  /// Forward with autograd (call `.backward()` on a loss of the outputs). `training` selects
  /// batch-norm batch statistics and enables dropout.
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs, bool training);

  /// Trainable tensors (those referred to by `param` nodes), in graph order, with requires_grad set.
  std::vector<at::Tensor> parameters();
  std::vector<std::string> parameter_names() const { return model_.param_names(); }

  /// Attaches a hook to the value named `value`; returns an id for remove_hook.
  int add_hook(const std::string& value, ValueHook hook);
  void remove_hook(int id);
  void clear_hooks() { hooks_.clear(); }

  ir::Model& model() { return model_; }
  /// The generator random ops (dropout, stochastic depth) draw from in training forwards; without
  /// one they use ATen's global generator.
  void set_generator(at::Generator generator) { generator_ = std::move(generator); }
  /// Replaces batch-norm's batch-statistics branch in training forwards (KernelContext::
  /// batch_norm_training; the trainer's synchronised BatchNorm). Empty: at::batch_norm.
  void set_batch_norm_training(ir::BatchNormFn fn) { batch_norm_training_ = std::move(fn); }

 private:
  struct Step {
    const ir::Node* node;
    std::vector<size_t> in;     // slots
    std::vector<size_t> out;    // slots
    std::vector<size_t> free;   // slots whose last use is this step
    std::string tensor;         // param/constant: store name
  };
  std::vector<at::Tensor> execute(const std::vector<at::Tensor>& inputs, bool training, bool free_early);

  ir::Model& model_;
  std::vector<Step> steps_;
  std::vector<size_t> input_slots_, output_slots_;
  std::map<std::string, size_t> slot_of_;
  size_t num_slots_ = 0;
  struct Hook {
    int id;
    size_t slot;
    const ir::Value* value;
    ValueHook fn;
  };
  std::vector<Hook> hooks_;
  int next_hook_ = 0;
  c10::optional<at::Generator> generator_;
  ir::BatchNormFn batch_norm_training_;
};

/// Moves every tensor of the model to `device` (cpu, cuda).
void move_model(ir::Model& model, const c10::Device& device);

/// Parses "cpu" / "cuda" / "cuda:1"; InputError when unknown or when CUDA is not available.
c10::Device parse_device(const std::string& s);

}  // namespace mc::runtime
