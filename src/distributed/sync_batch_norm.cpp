#include "distributed/sync_batch_norm.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "common/error.h"

namespace mc::dist {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Dims reduced per channel (all but 1) and the shape that broadcasts a C vector over x.
std::vector<int64_t> reduce_dims(const at::Tensor& x) {
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
  return d;
}
std::vector<int64_t> channel_shape(const at::Tensor& x) {
  std::vector<int64_t> s(static_cast<size_t>(x.dim()), 1);
  s[1] = x.size(1);
  return s;
}

struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            World* world, at::Tensor running_mean, at::Tensor running_var, double momentum, double eps) {
    const auto dims = reduce_dims(x);
    const auto cs = channel_shape(x);
    const int64_t c = x.size(1);
    at::Tensor xd = x.to(at::kDouble);
    at::Tensor stats = at::cat({xd.sum(dims), xd.square().sum(dims),
                                at::full({1}, static_cast<double>(x.numel() / c), xd.options())});
    world->all_reduce(stats, ReduceOp::kSum);
    const double n = stats[2 * c].item<double>();
    if (n <= 1)
      throw RuntimeFailure("synchronised batch norm: " + std::to_string(static_cast<int64_t>(n)) +
                           " value(s) per channel over all ranks; training needs more than 1 (raise the batch size)");
    at::Tensor mean = stats.narrow(0, 0, c) / n;
    at::Tensor var = (stats.narrow(0, c, c) / n - mean.square()).clamp_min(0);
    at::Tensor invstd = (var + eps).rsqrt();
    {
      at::NoGradGuard g;
      running_mean.mul_(1 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1 - momentum).add_((var * (n / (n - 1))).to(running_var.scalar_type()), momentum);
    }
    at::Tensor mean_f = mean.to(x.scalar_type()).view(cs), invstd_f = invstd.to(x.scalar_type());
    at::Tensor y = (x - mean_f) * (invstd_f * weight).view(cs) + bias.view(cs);
    ctx->save_for_backward({x, weight, mean_f, invstd_f});
    ctx->saved_data["n"] = n;
    ctx->saved_data["world"] = reinterpret_cast<int64_t>(world);
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    auto* world = reinterpret_cast<World*>(ctx->saved_data["world"].toInt());
    const double n = ctx->saved_data["n"].toDouble();
    const at::Tensor dy = grads[0].contiguous();
    const auto dims = reduce_dims(x);
    const auto cs = channel_shape(x);
    const int64_t c = x.size(1);
    at::Tensor xmu = x - mean;
    at::Tensor sum_dy = dy.sum(dims, false, at::kDouble);
    at::Tensor sum_dy_xmu = (dy * xmu).sum(dims, false, at::kDouble);
    at::Tensor grad_weight = (sum_dy_xmu * invstd.to(at::kDouble)).to(weight.scalar_type());
    at::Tensor grad_bias = sum_dy.to(weight.scalar_type());
    at::Tensor both = at::cat({sum_dy, sum_dy_xmu});
    world->all_reduce(both, ReduceOp::kSum);
    at::Tensor mean_dy = (both.narrow(0, 0, c) / n).to(x.scalar_type()).view(cs);
    at::Tensor mean_dy_xmu = (both.narrow(0, c, c) / n).to(x.scalar_type()).view(cs);
    at::Tensor is = invstd.view(cs);
    at::Tensor dx = (dy - mean_dy - xmu * is * is * mean_dy_xmu) * (is * weight.view(cs));
    // One gradient per forward input: x, weight, bias, world, running_mean, running_var, momentum, eps.
    return {dx, grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor sync_batch_norm(World& world, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           const at::Tensor& running_mean, const at::Tensor& running_var, double momentum, double eps) {
  if (x.dim() < 2) throw Error("sync_batch_norm: input needs a channel dim");
  if (!weight.defined() || !bias.defined()) throw Error("sync_batch_norm: weight and bias must be defined");
  return SyncBatchNormFn::apply(x, weight, bias, &world, running_mean, running_var, momentum, eps);
}

}  // namespace mc::dist
