#include "lowrank/tucker.h"

#include <ATen/ATen.h>

#include <tuple>

#include "common/error.h"
#include "lowrank/svd.h"

namespace mc::lowrank {

namespace {
/// Leading r left singular vectors of `m` (float64).
at::Tensor leading_vectors(const at::Tensor& m, int64_t r) {
  at::Tensor u, s, vh;
  std::tie(u, s, vh) = at::linalg_svd(m, /*full_matrices=*/false);
  return u.narrow(1, 0, r);
}
}  // namespace

ConvFactors tucker2(const at::Tensor& w, int64_t r_in, int64_t r_out) {
  if (!w.defined() || w.dim() != 4 || !w.is_floating_point())
    throw Error("tucker2: needs a 4-d floating-point conv weight");
  const int64_t n = w.size(0), c = w.size(1);
  if (r_in < 1 || r_in > c || r_out < 1 || r_out > n)
    throw Error("tucker2: ranks (r_in " + std::to_string(r_in) + ", r_out " + std::to_string(r_out) +
                ") outside [1, C = " + std::to_string(c) + "] x [1, N = " + std::to_string(n) + "]");
  at::NoGradGuard no_grad;
  const at::Tensor u_out = leading_vectors(mode_unfolding(w, 0), r_out);  // [N, r_out]
  const at::Tensor u_in = leading_vectors(mode_unfolding(w, 1), r_in);    // [C, r_in]
  const at::Tensor core = at::einsum("ncyx,na,cb->abyx", {w.detach().to(at::kDouble), u_out, u_in});
  const auto dt = w.scalar_type();
  return {ConvMethod::tucker2,
          {u_in.t().reshape({r_in, c, 1, 1}).to(dt).contiguous(), core.to(dt).contiguous(),
           u_out.reshape({n, r_out, 1, 1}).to(dt).contiguous()}};
}

}  // namespace mc::lowrank
