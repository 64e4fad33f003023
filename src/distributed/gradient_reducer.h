// Gradient averaging for data-parallel training (DDP's reducer): the parameters are grouped into
// buckets of about `bucket_bytes` (in reverse order, the order backward produces their gradients),
// each parameter's gradient is copied into its bucket's flat buffer by an autograd hook as soon as
// backward computes it, and a bucket's all_reduce (average) starts as soon as all its gradients are
// in, while backward goes on. Buckets start in the same order on every rank (bucket k only after
// buckets 0..k-1: Gloo needs the same collective order everywhere). finish() starts what is left
// (a parameter backward gave no gradient contributes zeros), waits, and writes the averages into
// the parameters' .grad.
//
//   GradientReducer r(world, 25 << 20);
//   r.set_params(optimizer.params());
//   r.prepare(); loss.backward(); r.finish(); optimizer.step();
#pragma once
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "distributed/world.h"

namespace mc::dist {

class GradientReducer {
 public:
  GradientReducer(World& world, size_t bucket_bytes);
  /// Removes the hooks from the parameters.
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  /// (Re)builds the buckets and hooks for these parameters (the same list, in the same order, on
  /// every rank); those without requires_grad are left out.
  void set_params(const std::vector<at::Tensor>& params);
  /// Before each backward.
  void prepare();
  /// After backward: every parameter's .grad is the average over the ranks.
  void finish();

  size_t num_buckets() const { return buckets_.size(); }
  /// Buckets started by the hooks during the last backward (the rest started in finish()).
  size_t launched_during_backward() const { return launched_in_backward_; }
  /// Seconds finish() waited for the all-reduces (the part not overlapped with backward).
  double wait_seconds() const { return wait_seconds_; }

 private:
  struct Slot {
    size_t bucket;
    int64_t offset;  // in the bucket's flat buffer
    bool ready = false;
  };
  struct Bucket {
    at::Tensor flat;
    std::vector<size_t> params;  // indices into params_
    size_t ready = 0;
    bool launched = false;
    PendingReduce pending;
  };
  void on_grad(size_t param, const at::Tensor& grad);
  void launch_ready();
  void launch(Bucket& b);
  void remove_hooks();

  World& world_;
  size_t bucket_bytes_;
  std::vector<at::Tensor> params_;
  std::vector<unsigned> hook_ids_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  bool in_backward_ = false;
  size_t launched_in_backward_ = 0;
  double wait_seconds_ = 0.0;
};

}  // namespace mc::dist
