// shared_weight[method, out, in, k, seed?, block?](w) -> [out, in]: parameter sharing from a fixed
// index (src/ir/shared_index.h). w is the float32 [k] vector of trained values; the output is the
// virtual weight V[i][j] = sign(i, j) * w[index(i, j)] a linear layer reads as its weight.
//   method = hashed     HashedNets: index and sign from a hash of (i, j) seeded by `seed`
//   method = circulant  block-circulant with b x b blocks (`block`), k = ceil(out/b) ceil(in/b) b
// The index is computed once per (method, out, in, k, seed, block) and cached; the kernel is an
// index_select (+ sign multiply), so autograd gives w[k] the sum of sign * dV over its positions
// (HashedNets eq. 8). Export: export/ops/shared_weight.cpp computes the index in-graph.
#include "common/error.h"
#include "ir/ops/ops.h"
#include "ir/shared_index.h"

namespace mc::ir::ops {

void register_shared_weight_ops(OpRegistry& r) {
  OpDef d;
  d.name = "shared_weight";
  d.min_inputs = d.max_inputs = 1;
  d.required_attrs = {"method", "out", "in", "k"};
  d.optional_attrs = {"seed", "block"};
  d.shape = [](const Node& n, const std::vector<TensorType>& in) {
    const SharingSpec s = sharing_spec(n);
    if (in[0].dtype != DType::f32 || in[0].shape != Shape{s.k})
      throw Error("shared_weight input must be f32 [" + std::to_string(s.k) + "], got " + shape_str(in[0].shape));
    return std::vector<TensorType>{TensorType(DType::f32, Shape{s.out, s.in})};
  };
  d.kernel = [](const Node& n, const std::vector<at::Tensor>& in, const KernelContext&) {
    return std::vector<at::Tensor>{expand_shared(in[0], sharing_spec(n))};
  };
  d.doc = "virtual weight sign * w[index] from k stored values (hashed: HashedNets; circulant: block-circulant)";
  r.add(std::move(d));
}

}  // namespace mc::ir::ops
