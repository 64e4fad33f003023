#include "lowrank/svd.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <tuple>

#include "common/error.h"

namespace mc::lowrank {

namespace {

void check_weight(const at::Tensor& w, int64_t dims, const char* what) {
  if (!w.defined() || w.dim() != dims || !w.is_floating_point())
    throw Error(std::string(what) + ": needs a " + std::to_string(dims) + "-d floating-point weight");
}

void check_rank(int64_t r, int64_t max_rank, const char* what) {
  if (r < 1 || r > max_rank)
    throw Error(std::string(what) + ": rank " + std::to_string(r) + " outside [1, " + std::to_string(max_rank) + "]");
}

/// Rank-r balanced factors of `m` (float64): {U_r sqrt(S_r) [rows, r], sqrt(S_r) Vh_r [r, cols]}.
std::pair<at::Tensor, at::Tensor> balanced_svd(const at::Tensor& m, int64_t r) {
  at::Tensor u, s, vh;
  std::tie(u, s, vh) = at::linalg_svd(m, /*full_matrices=*/false);
  const at::Tensor root = s.narrow(0, 0, r).sqrt();
  return {u.narrow(1, 0, r) * root.unsqueeze(0), root.unsqueeze(1) * vh.narrow(0, 0, r)};
}

}  // namespace

at::Tensor channel_matrix(const at::Tensor& w) {
  check_weight(w, 4, "channel_matrix");
  return w.detach().to(at::kDouble).reshape({w.size(0), -1});
}

at::Tensor spatial_matrix(const at::Tensor& w) {
  check_weight(w, 4, "spatial_matrix");
  // [N, C, kh, kw] -> [C, kh, N, kw] -> rows (c, y), columns (n, x).
  const at::Tensor t = w.detach().to(at::kDouble).permute({1, 2, 0, 3});
  return t.reshape({w.size(1) * w.size(2), w.size(0) * w.size(3)});
}

at::Tensor mode_unfolding(const at::Tensor& w, int64_t mode) {
  check_weight(w, 4, "mode_unfolding");
  if (mode != 0 && mode != 1) throw Error("mode_unfolding: mode must be 0 (N) or 1 (C)");
  const at::Tensor t = w.detach().to(at::kDouble);
  return (mode == 0 ? t : t.transpose(0, 1)).reshape({w.size(mode), -1});
}

LinearFactors svd_linear(const at::Tensor& w, int64_t r) {
  check_weight(w, 2, "svd_linear");
  check_rank(r, std::min(w.size(0), w.size(1)), "svd_linear");
  at::NoGradGuard no_grad;
  auto [left, right] = balanced_svd(w.detach().to(at::kDouble), r);
  return {right.to(w.scalar_type()).contiguous(), left.to(w.scalar_type()).contiguous()};
}

ConvFactors channel_svd(const at::Tensor& w, int64_t r) {
  check_weight(w, 4, "channel_svd");
  const int64_t n = w.size(0), c = w.size(1), kh = w.size(2), kw = w.size(3);
  check_rank(r, std::min(n, c * kh * kw), "channel_svd");
  at::NoGradGuard no_grad;
  auto [left, right] = balanced_svd(channel_matrix(w), r);
  const auto dt = w.scalar_type();
  return {ConvMethod::channel_svd,
          {right.reshape({r, c, kh, kw}).to(dt).contiguous(), left.reshape({n, r, 1, 1}).to(dt).contiguous()}};
}

ConvFactors spatial_svd(const at::Tensor& w, int64_t r) {
  check_weight(w, 4, "spatial_svd");
  const int64_t n = w.size(0), c = w.size(1), kh = w.size(2), kw = w.size(3);
  check_rank(r, std::min(c * kh, n * kw), "spatial_svd");
  at::NoGradGuard no_grad;
  auto [left, right] = balanced_svd(spatial_matrix(w), r);
  const auto dt = w.scalar_type();
  // left [(c, y), q] -> V[q, c, y, 0];  right [q, (n, x)] -> H[n, q, 0, x].
  at::Tensor vertical = left.t().reshape({r, c, kh, 1});
  at::Tensor horizontal = right.reshape({r, n, 1, kw}).transpose(0, 1);
  return {ConvMethod::spatial_svd, {vertical.to(dt).contiguous(), horizontal.to(dt).contiguous()}};
}

}  // namespace mc::lowrank
