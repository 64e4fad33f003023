// Unary activations and train-only regularisers (identity in eval):
//   relu, hardtanh[min_val,max_val] (relu6 = hardtanh[0,6]), sigmoid, hardsigmoid, hardswish, silu,
//   gelu[approximate="none"|"tanh"], tanh, leaky_relu[negative_slope], softmax[dim], log_softmax[dim],
//   identity, dropout[p], stochastic_depth[p, mode="row"|"batch"].
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

void register_activation_ops(OpRegistry& r) {
  using K = const KernelContext&;
  add_unary(r, "relu", [](const at::Tensor& x, const Node&, K) { return at::relu(x); }, {}, "max(x, 0)");
  add_unary(r, "hardtanh", [](const at::Tensor& x, const Node& n, K) {
    return at::hardtanh(x, n.attrs().f("min_val", -1.0), n.attrs().f("max_val", 1.0));
  }, {"min_val", "max_val"}, "clamp(x, min_val, max_val); relu6 is hardtanh[min_val=0, max_val=6]");
  add_unary(r, "sigmoid", [](const at::Tensor& x, const Node&, K) { return at::sigmoid(x); });
  add_unary(r, "hardsigmoid", [](const at::Tensor& x, const Node&, K) { return at::hardsigmoid(x); });
  add_unary(r, "hardswish", [](const at::Tensor& x, const Node&, K) { return at::hardswish(x); });
  add_unary(r, "silu", [](const at::Tensor& x, const Node&, K) { return at::silu(x); });
  add_unary(r, "tanh", [](const at::Tensor& x, const Node&, K) { return at::tanh(x); });
  add_unary(r, "gelu", [](const at::Tensor& x, const Node& n, K) {
    return at::gelu(x, n.attrs().s("approximate", "none"));
  }, {"approximate"});
  add_unary(r, "leaky_relu", [](const at::Tensor& x, const Node& n, K) {
    return at::leaky_relu(x, n.attrs().f("negative_slope", 0.01));
  }, {"negative_slope"});
  add_unary(r, "softmax", [](const at::Tensor& x, const Node& n, K) {
    return at::softmax(x, n.attrs().i("dim"));
  }, {"dim"});
  add_unary(r, "log_softmax", [](const at::Tensor& x, const Node& n, K) {
    return at::log_softmax(x, n.attrs().i("dim"));
  }, {"dim"});
  add_unary(r, "identity", [](const at::Tensor& x, const Node&, K) { return x; }, {}, "y = x");
  add_unary(r, "dropout", [](const at::Tensor& x, const Node& n, K ctx) {
    // at::dropout's CPU arithmetic (_dropout_impl), drawing from the executor's generator.
    const double p = n.attrs().f("p", 0.5);
    if (!ctx.training || p == 0.0 || x.numel() == 0) return x;
    if (p == 1.0) return x * at::zeros({}, x.options());
    return x * at::empty_like(x, at::MemoryFormat::Contiguous).bernoulli_(1.0 - p, ctx.generator).div_(1.0 - p);
  }, {"p"}, "dropout in training, identity in eval");
  add_unary(r, "stochastic_depth", [](const at::Tensor& x, const Node& n, K ctx) {
    double p = n.attrs().f("p", 0.0);
    if (!ctx.training || p == 0.0) return x;
    std::vector<int64_t> noise_shape(static_cast<size_t>(x.dim()), 1);
    if (n.attrs().s("mode", "row") == "row") noise_shape[0] = x.size(0);
    at::Tensor noise = at::empty(noise_shape, x.options()).bernoulli_(1.0 - p, ctx.generator);
    if (p < 1.0) noise.div_(1.0 - p);
    return x * noise;
  }, {"p", "mode"}, "drops whole samples (row) or the whole batch in training; identity in eval");
}

}  // namespace mc::ir::ops
