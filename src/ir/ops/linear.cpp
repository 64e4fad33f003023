// linear(x, w, b?): y = x w^T + b, x: ... x in, w: out x in.   matmul(a, b): numpy-style matmul.
// embedding(ids, w): y[..., :] = w[ids[...], :], ids: integer (any shape), w: rows x features (a
// lookup table: the rows a Linear layer would multiply a one-hot vector with; no MACs).
#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir::ops {

void register_linear_ops(OpRegistry& r) {
  OpDef l;
  l.name = "linear";
  l.min_inputs = 2;
  l.max_inputs = 3;
  l.kernel = [](const Node&, const std::vector<at::Tensor>& in, const KernelContext&) {
    return std::vector<at::Tensor>{at::linear(in[0], in[1], in.size() > 2 ? in[2] : at::Tensor())};
  };
  l.shape = [k = l.kernel](const Node& n, const std::vector<TensorType>& in) {
    if (in[1].shape.size() != 2) throw Error("linear weight must be 2-d, got " + shape_str(in[1].shape));
    if (in[0].shape.empty() || in[0].shape.back() != in[1].shape[1])
      throw Error("input " + shape_str(in[0].shape) + " does not end in " + std::to_string(in[1].shape[1]) + " features");
    return meta_shapes(n, in, k);
  };
  l.macs = [](const Node&, const std::vector<TensorType>& in, const std::vector<TensorType>& out) {
    return out[0].numel() * in[1].shape[1];
  };
  l.doc = "fully connected layer";
  r.add(std::move(l));

  OpDef m;
  m.name = "matmul";
  m.min_inputs = m.max_inputs = 2;
  m.kernel = [](const Node&, const std::vector<at::Tensor>& in, const KernelContext&) {
    return std::vector<at::Tensor>{at::matmul(in[0], in[1])};
  };
  m.shape = [k = m.kernel](const Node& n, const std::vector<TensorType>& in) { return meta_shapes(n, in, k); };
  m.macs = [](const Node&, const std::vector<TensorType>& in, const std::vector<TensorType>& out) {
    int64_t k = in[0].shape.empty() ? 1 : in[0].shape.back();
    return out[0].numel() * k;
  };
  m.doc = "matrix product with broadcasting (numpy semantics)";
  r.add(std::move(m));

  OpDef e;
  e.name = "embedding";
  e.min_inputs = e.max_inputs = 2;
  e.kernel = [](const Node&, const std::vector<at::Tensor>& in, const KernelContext&) {
    return std::vector<at::Tensor>{at::embedding(in[1], in[0])};
  };
  e.shape = [](const Node&, const std::vector<TensorType>& in) {
    if (in[0].dtype != DType::i64 && in[0].dtype != DType::i32)
      throw Error("embedding indices must be int64 or int32, got " + type_str(in[0]));
    if (in[1].shape.size() != 2) throw Error("embedding weight must be 2-d (rows x features), got " + shape_str(in[1].shape));
    Shape s = in[0].shape;
    s.push_back(in[1].shape[1]);
    return std::vector<TensorType>{TensorType(in[1].dtype, s)};
  };
  e.doc = "table lookup: row ids[...] of the weight (token embeddings); ids outside [0, rows) are an error";
  r.add(std::move(e));
}

}  // namespace mc::ir::ops
