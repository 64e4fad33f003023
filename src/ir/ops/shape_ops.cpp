// Data movement:
//   cat[dim](x...), flatten[start_dim, end_dim], reshape[shape] (0 = copy that input dim, -1 = infer;
//   so a reshape keeps a dynamic batch), permute[dims], transpose[dim0, dim1],
//   split[dim, sizes=[...]] (one output per size; chunk maps here), unsqueeze[dim], squeeze[dims],
//   index_select[dim, index=[...]] (the entries of x at the constant positions `index` along dim, in
//   that order, repeats allowed: PyTorch's index_select / x[idx] with a constant 1-d index, strided
//   slices x[a:b:step]; ONNX Gather).
//   expand[shape](x, ref?) (broadcast to shape: -1 keeps x's dim, 0 copies ref's dim at that index,
//   so a class token [1,1,D] expanded to the batch of ref stays dynamic in the batch).
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

namespace {
using In = const std::vector<at::Tensor>&;
using K = const KernelContext&;

void add_meta(OpRegistry& r, const std::string& name, int min_in, int max_in, std::vector<std::string> req,
              std::vector<std::string> opt, KernelFn k, std::string doc, int num_outputs = 1) {
  OpDef d;
  d.name = name;
  d.min_inputs = min_in;
  d.max_inputs = max_in;
  d.num_outputs = num_outputs;
  d.required_attrs = std::move(req);
  d.optional_attrs = std::move(opt);
  d.kernel = k;
  d.shape = [k](const Node& n, const std::vector<TensorType>& in) { return meta_shapes(n, in, k); };
  d.doc = std::move(doc);
  r.add(std::move(d));
}

std::vector<int64_t> resolve_reshape(const Node& n, const at::Tensor& x) {
  std::vector<int64_t> s = n.attrs().is("shape");
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == 0) {
      if (static_cast<int64_t>(i) >= x.dim()) throw Error(n.describe() + ": shape entry 0 at index " + std::to_string(i) + " has no input dim to copy");
      s[i] = x.size(static_cast<int64_t>(i));
    }
  }
  return s;
}

std::vector<int64_t> resolve_expand(const Node& n, const std::vector<at::Tensor>& in) {
  std::vector<int64_t> s = n.attrs().is("shape");
  if (s.size() < static_cast<size_t>(in[0].dim()))
    throw Error(n.describe() + ": expand shape " + shape_str(s) + " has fewer dims than the input (" +
                std::to_string(in[0].dim()) + ")");
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != 0) continue;
    if (in.size() < 2 || static_cast<int64_t>(i) >= in[1].dim())
      throw Error(n.describe() + ": expand shape entry 0 at index " + std::to_string(i) + " has no dim of ref to copy");
    s[i] = in[1].size(static_cast<int64_t>(i));
  }
  return s;
}
}  // namespace

void register_shape_ops(OpRegistry& r) {
  add_meta(r, "cat", 1, -1, {"dim"}, {}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{at::cat(in, n.attrs().i("dim"))};
  }, "concatenation along dim");
  add_meta(r, "flatten", 1, 1, {}, {"start_dim", "end_dim"}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{at::flatten(in[0], n.attrs().i("start_dim", 0), n.attrs().i("end_dim", -1))};
  }, "merges dims start_dim..end_dim");
  add_meta(r, "reshape", 1, 1, {"shape"}, {}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{at::reshape(in[0], resolve_reshape(n, in[0]))};
  }, "reshape; 0 copies the input dim at that index, -1 is inferred");
  add_meta(r, "expand", 1, 2, {"shape"}, {}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{in[0].expand(resolve_expand(n, in))};
  }, "broadcast to shape; -1 keeps the input dim, 0 copies dim i of ref (input 1: a dynamic batch)");
  add_meta(r, "permute", 1, 1, {"dims"}, {}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{in[0].permute(n.attrs().is("dims"))};
  }, "dimension permutation");
  add_meta(r, "transpose", 1, 1, {"dim0", "dim1"}, {}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{in[0].transpose(n.attrs().i("dim0"), n.attrs().i("dim1"))};
  }, "swaps two dims");
  add_meta(r, "unsqueeze", 1, 1, {"dim"}, {}, [](const Node& n, In in, K) {
    return std::vector<at::Tensor>{in[0].unsqueeze(n.attrs().i("dim"))};
  }, "inserts a size-1 dim");
  add_meta(r, "squeeze", 1, 1, {"dims"}, {}, [](const Node& n, In in, K) {
    at::Tensor x = in[0];
    auto dims = n.attrs().is("dims");
    std::sort(dims.begin(), dims.end(), [&](int64_t a, int64_t b) { return wrap_dim(a, x.dim(), n) > wrap_dim(b, x.dim(), n); });
    for (int64_t d : dims) x = x.squeeze(d);
    return std::vector<at::Tensor>{x};
  }, "removes the listed size-1 dims");

  add_meta(r, "index_select", 1, 1, {"dim", "index"}, {}, [](const Node& n, In in, K) {
    const auto& idx = n.attrs().is("index");
    const int64_t d = wrap_dim(n.attrs().i("dim"), in[0].dim(), n);
    if (idx.empty()) throw Error(n.describe() + ": empty index");
    const int64_t size = in[0].size(d);
    for (int64_t i : idx)
      if (i < 0 || i >= size)
        throw Error(n.describe() + ": index " + std::to_string(i) + " out of range for dim " + std::to_string(d) +
                    " of size " + std::to_string(size));
    if (in[0].is_meta()) {  // shape inference: no data to gather
      auto shape = in[0].sizes().vec();
      shape[static_cast<size_t>(d)] = static_cast<int64_t>(idx.size());
      return std::vector<at::Tensor>{at::empty(shape, in[0].options())};
    }
    return std::vector<at::Tensor>{at::index_select(in[0], d, at::tensor(idx, at::kLong))};
  }, "the entries at the constant positions `index` along dim (x[idx] with a constant 1-d idx; strided slices)");

  OpDef s;
  s.name = "split";
  s.min_inputs = s.max_inputs = 1;
  s.num_outputs = -1;
  s.required_attrs = {"dim", "sizes"};
  s.kernel = [](const Node& n, In in, K) {
    auto parts = at::split_with_sizes(in[0], n.attrs().is("sizes"), n.attrs().i("dim"));
    return std::vector<at::Tensor>(parts.begin(), parts.end());
  };
  s.shape = [k = s.kernel](const Node& n, const std::vector<TensorType>& in) {
    const auto& sizes = n.attrs().is("sizes");
    int64_t d = wrap_dim(n.attrs().i("dim"), in[0].rank(), n);
    int64_t total = 0;
    for (auto v : sizes) total += v;
    if (total != in[0].shape[static_cast<size_t>(d)])
      throw Error("split sizes " + shape_str(sizes) + " do not add up to dim " + std::to_string(d) + " of " + shape_str(in[0].shape));
    if (sizes.size() != n.outputs().size())
      throw Error("split has " + std::to_string(sizes.size()) + " sizes but " + std::to_string(n.outputs().size()) + " outputs");
    return meta_shapes(n, in, k);
  };
  s.doc = "splits along dim into parts of the given sizes (one output each)";
  r.add(std::move(s));
}

}  // namespace mc::ir::ops
