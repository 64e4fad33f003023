#include "pruning/nm_sparsity.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mc::prune {

bool nm_applicable(const at::Tensor& w, int64_t m, int64_t input_dim) {
  return m > 0 && input_dim < w.dim() && w.size(input_dim) % m == 0;
}

at::Tensor nm_mask(const at::Tensor& w, int64_t n, int64_t m, int64_t input_dim) {
  if (!(n >= 0 && n <= m)) throw Error("nm_mask: need 0 <= n <= m, got " + std::to_string(n) + ":" + std::to_string(m));
  if (!nm_applicable(w, m, input_dim))
    throw Error("nm_mask: dimension " + std::to_string(input_dim) + " of a weight of size " +
                std::to_string(input_dim < w.dim() ? w.size(input_dim) : 0) + " is not a multiple of m = " +
                std::to_string(m));
  at::NoGradGuard no_grad;
  // Input channels last (conv: O x kh x kw x I), then rows of groups: [..., I/m, m].
  const at::Tensor moved = w.detach().abs().movedim(input_dim, -1).contiguous();
  const at::Tensor groups = moved.reshape({-1, m});
  at::Tensor keep = at::zeros_like(groups, groups.options().dtype(at::kBool));
  // Stable descending sort: among equal magnitudes the lower index is kept.
  const at::Tensor order = std::get<1>(at::sort(groups, /*stable=*/true, /*dim=*/1, /*descending=*/true));
  keep.scatter_(1, order.narrow(1, 0, n), true);
  return keep.view(moved.sizes()).movedim(-1, input_dim).contiguous();
}

}  // namespace mc::prune
