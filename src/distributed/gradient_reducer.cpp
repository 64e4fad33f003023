#include "distributed/gradient_reducer.h"

#include <ATen/ATen.h>

#include <chrono>

#include "common/error.h"

namespace mc::dist {

GradientReducer::GradientReducer(World& world, size_t bucket_bytes) : world_(world), bucket_bytes_(bucket_bytes) {}

GradientReducer::~GradientReducer() { remove_hooks(); }

void GradientReducer::remove_hooks() {
  for (size_t i = 0; i < hook_ids_.size(); ++i) params_[i].remove_hook(hook_ids_[i]);
  hook_ids_.clear();
}

void GradientReducer::set_params(const std::vector<at::Tensor>& params) {
  remove_hooks();
  params_.clear();
  for (const auto& p : params)
    if (p.requires_grad()) params_.push_back(p);
  slots_.assign(params_.size(), Slot{});
  buckets_.clear();
  // Reverse order; a new bucket when the dtype changes or the bucket is full.
  size_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const at::Tensor& p = params_[k];
    const size_t nb = static_cast<size_t>(p.numel()) * p.element_size();
    if (buckets_.empty() || (bytes + nb > bucket_bytes_ && bytes > 0) ||
        params_[buckets_.back().params.front()].scalar_type() != p.scalar_type()) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    slots_[k].bucket = buckets_.size() - 1;
    slots_[k].offset = static_cast<int64_t>(bytes / p.element_size());
    b.params.push_back(k);
    bytes += nb;
  }
  for (auto& b : buckets_) {
    int64_t n = 0;
    for (size_t k : b.params) n += params_[k].numel();
    b.flat = at::zeros({n}, params_[b.params.front()].options().requires_grad(false));
  }
  for (size_t k = 0; k < params_.size(); ++k)
    hook_ids_.push_back(params_[k].register_hook([this, k](const at::Tensor& g) { on_grad(k, g); }));
}

void GradientReducer::prepare() {
  for (auto& s : slots_) s.ready = false;
  for (auto& b : buckets_) {
    b.ready = 0;
    b.launched = false;
  }
  next_launch_ = 0;
  launched_in_backward_ = 0;
  in_backward_ = true;
}

void GradientReducer::on_grad(size_t k, const at::Tensor& grad) {
  if (!in_backward_) return;  // a backward outside prepare()/finish() (not a training step)
  Slot& s = slots_[k];
  Bucket& b = buckets_[s.bucket];
  if (s.ready || b.launched)
    throw Error("data-parallel gradient reducer: parameter " + std::to_string(k) +
                " got a second gradient in one backward (backward called twice per step?)");
  b.flat.narrow(0, s.offset, grad.numel()).copy_(grad.reshape({-1}));
  s.ready = true;
  if (++b.ready == b.params.size()) launch_ready();
}

void GradientReducer::launch(Bucket& b) {
  b.launched = true;
  b.pending = world_.all_reduce_async({b.flat}, ReduceOp::kAvg);
}

void GradientReducer::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready == buckets_[next_launch_].params.size()) {
    launch(buckets_[next_launch_++]);
    ++launched_in_backward_;
  }
}

void GradientReducer::finish() {
  in_backward_ = false;
  for (; next_launch_ < buckets_.size(); ++next_launch_) {
    Bucket& b = buckets_[next_launch_];
    for (size_t k : b.params)
      if (!slots_[k].ready) b.flat.narrow(0, slots_[k].offset, params_[k].numel()).zero_();  // no gradient: zeros
    launch(b);
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& b : buckets_) b.pending.wait();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  at::NoGradGuard no_grad;
  for (auto& b : buckets_)
    for (size_t k : b.params) {
      at::Tensor avg = b.flat.narrow(0, slots_[k].offset, params_[k].numel()).view(params_[k].sizes());
      at::Tensor& g = params_[k].mutable_grad();
      if (g.defined()) g.copy_(avg);
      else g = avg.clone();
    }
}

}  // namespace mc::dist
