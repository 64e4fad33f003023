// batch_norm[eps, momentum](x, weight, bias, running_mean, running_var): in training mode uses batch
// statistics and updates the running ones in place (as PyTorch does); otherwise the running ones.
// KernelContext::batch_norm_training, when set, computes the training branch (synchronised BN).
// layer_norm[normalized_shape=[...], eps](x, weight?, bias?).
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

void register_norm_ops(OpRegistry& r) {
  OpDef b;
  b.name = "batch_norm";
  b.min_inputs = b.max_inputs = 5;
  b.optional_attrs = {"eps", "momentum"};
  b.shape = [](const Node&, const std::vector<TensorType>& in) {
    if (in[0].shape.size() < 2) throw Error("batch_norm input must have a channel dim, got " + shape_str(in[0].shape));
    int64_t c = in[0].shape[1];
    for (size_t i = 1; i < 5; ++i)
      if (in[i].shape != Shape{c})
        throw Error("batch_norm parameter " + std::to_string(i) + " has shape " + shape_str(in[i].shape) +
                    ", expected [" + std::to_string(c) + "]");
    return std::vector<TensorType>{in[0]};
  };
  b.kernel = [](const Node& n, const std::vector<at::Tensor>& in, const KernelContext& ctx) {
    if (ctx.training && ctx.batch_norm_training)
      return std::vector<at::Tensor>{ctx.batch_norm_training(in[0], in[1], in[2], in[3], in[4], n.attrs().f("momentum", 0.1),
                                                             n.attrs().f("eps", 1e-5))};
    return std::vector<at::Tensor>{at::batch_norm(in[0], in[1], in[2], in[3], in[4], ctx.training,
                                                  n.attrs().f("momentum", 0.1), n.attrs().f("eps", 1e-5), true)};
  };
  b.macs = [](const Node&, const std::vector<TensorType>&, const std::vector<TensorType>& out) { return out[0].numel(); };
  b.doc = "batch normalisation over dim 1";
  r.add(std::move(b));

  OpDef l;
  l.name = "layer_norm";
  l.min_inputs = 1;
  l.max_inputs = 3;
  l.required_attrs = {"normalized_shape"};
  l.optional_attrs = {"eps"};
  l.shape = [](const Node& n, const std::vector<TensorType>& in) {
    const auto& ns = n.attrs().is("normalized_shape");
    const auto& x = in[0].shape;
    if (ns.size() > x.size() || !std::equal(ns.begin(), ns.end(), x.end() - static_cast<std::ptrdiff_t>(ns.size())))
      throw Error("normalized_shape " + shape_str(ns) + " is not a suffix of input shape " + shape_str(x));
    for (size_t i = 1; i < in.size(); ++i)
      if (in[i].shape != ns) throw Error("layer_norm affine parameter shape " + shape_str(in[i].shape) + " != " + shape_str(ns));
    return std::vector<TensorType>{in[0]};
  };
  l.kernel = [](const Node& n, const std::vector<at::Tensor>& in, const KernelContext&) {
    at::Tensor w = in.size() > 1 ? in[1] : at::Tensor(), b = in.size() > 2 ? in[2] : at::Tensor();
    return std::vector<at::Tensor>{at::layer_norm(in[0], n.attrs().is("normalized_shape"), w, b, n.attrs().f("eps", 1e-5))};
  };
  l.macs = [](const Node&, const std::vector<TensorType>&, const std::vector<TensorType>& out) { return 2 * out[0].numel(); };
  l.doc = "layer normalisation over the trailing normalized_shape dims";
  r.add(std::move(l));
}

}  // namespace mc::ir::ops
