// Pooling and reductions:
//   max_pool2d[kernel, stride, padding, dilation, ceil_mode], avg_pool2d[kernel, stride, padding,
//   ceil_mode, count_include_pad], adaptive_avg_pool2d[output_size], adaptive_max_pool2d[output_size],
//   mean[dims, keepdim].
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

namespace {
using In = const std::vector<at::Tensor>&;
using K = const KernelContext&;

std::vector<int64_t> pair(const Node& n, const char* k, std::vector<int64_t> dflt) {
  auto v = n.attrs().is(k, dflt);
  if (v.size() == 1) v.push_back(v[0]);
  return v;
}

void add_pool(OpRegistry& r, const std::string& name, std::vector<std::string> req, std::vector<std::string> opt,
              KernelFn k, MacsFn macs, std::string doc) {
  OpDef d;
  d.name = name;
  d.min_inputs = d.max_inputs = 1;
  d.required_attrs = std::move(req);
  d.optional_attrs = std::move(opt);
  d.kernel = k;
  d.shape = [k](const Node& n, const std::vector<TensorType>& in) {
    if (n.op() != "mean" && in[0].rank() != 4 && in[0].rank() != 3)
      throw Error(n.op() + " wants a 3-d or 4-d input, got " + shape_str(in[0].shape));
    if (n.op().rfind("adaptive_", 0) == 0) {  // no meta kernel in LibTorch 1.13
      auto os = pair(n, "output_size", {});
      Shape s = in[0].shape;
      s[s.size() - 2] = os[0];
      s[s.size() - 1] = os[1];
      return std::vector<TensorType>{TensorType(in[0].dtype, s)};
    }
    return meta_shapes(n, in, k);
  };
  d.macs = std::move(macs);
  d.doc = std::move(doc);
  r.add(std::move(d));
}

// One add (or compare) per input element read by the window: output elements x window size.
int64_t window_macs(const Node& n, const std::vector<TensorType>&, const std::vector<TensorType>& out) {
  auto k = pair(n, "kernel", {1, 1});
  return out[0].numel() * k[0] * k[1];
}
int64_t input_macs(const Node&, const std::vector<TensorType>& in, const std::vector<TensorType>&) { return in[0].numel(); }
}  // namespace

void register_pool_ops(OpRegistry& r) {
  add_pool(r, "max_pool2d", {"kernel"}, {"stride", "padding", "dilation", "ceil_mode"}, [](const Node& n, In in, K) {
    auto k = pair(n, "kernel", {});
    return std::vector<at::Tensor>{at::max_pool2d(in[0], k, pair(n, "stride", k), pair(n, "padding", {0, 0}),
                                                  pair(n, "dilation", {1, 1}), n.attrs().i("ceil_mode", 0) != 0)};
  }, window_macs, "2-d max pooling");
  add_pool(r, "avg_pool2d", {"kernel"}, {"stride", "padding", "ceil_mode", "count_include_pad"}, [](const Node& n, In in, K) {
    auto k = pair(n, "kernel", {});
    return std::vector<at::Tensor>{at::avg_pool2d(in[0], k, pair(n, "stride", k), pair(n, "padding", {0, 0}),
                                                  n.attrs().i("ceil_mode", 0) != 0, n.attrs().i("count_include_pad", 1) != 0)};
  }, window_macs, "2-d average pooling");
  add_pool(r, "adaptive_avg_pool2d", {"output_size"}, {}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{at::adaptive_avg_pool2d(in[0], pair(n, "output_size", {}))};
  }, input_macs, "adaptive average pooling to output_size");
  add_pool(r, "adaptive_max_pool2d", {"output_size"}, {}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{std::get<0>(at::adaptive_max_pool2d(in[0], pair(n, "output_size", {})))};
  }, input_macs, "adaptive max pooling to output_size");
  add_pool(r, "mean", {"dims"}, {"keepdim"}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{at::mean(in[0], n.attrs().is("dims"), n.attrs().i("keepdim", 0) != 0)};
  }, input_macs, "mean over dims");
}

}  // namespace mc::ir::ops
