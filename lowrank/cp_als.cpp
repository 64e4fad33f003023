#include "lowrank/cp_als.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <array>
#include <cmath>
#include <limits>
#include <tuple>

#include "common/error.h"

namespace mc::lowrank {

namespace {

using Factors = std::array<at::Tensor, 4>;  // A [N, R], B [C, R], Y [kh, R], X [kw, R] (float64)

/// MTTKRP of mode k: W_(k) times the Khatri-Rao product of the other three factors, [I_k, R].
at::Tensor mttkrp(const at::Tensor& t, const Factors& f, int k) {
  static const char* eq[4] = {"ncyx,cr,yr,xr->nr", "ncyx,nr,yr,xr->cr", "ncyx,nr,cr,xr->yr", "ncyx,nr,cr,yr->xr"};
  std::vector<at::Tensor> ops{t};
  for (int j = 0; j < 4; ++j)
    if (j != k) ops.push_back(f[j]);
  return at::einsum(eq[k], ops);
}

at::Tensor reconstruct(const at::Tensor& lambda, const Factors& f) {
  return at::einsum("r,nr,cr,yr,xr->ncyx", {lambda, f[0], f[1], f[2], f[3]});
}

/// HOSVD columns where the mode has them, seeded normal columns for the rest.
Factors initial_factors(const at::Tensor& t, int64_t rank, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Factors f;
  for (int k = 0; k < 4; ++k) {
    const int64_t dim = t.size(k);
    const at::Tensor unfolding = t.movedim(k, 0).reshape({dim, -1});
    at::Tensor u = std::get<0>(at::linalg_svd(unfolding, /*full_matrices=*/false));
    const int64_t from_svd = std::min(rank, u.size(1));
    at::Tensor cols = u.narrow(1, 0, from_svd);
    if (from_svd < rank)
      cols = at::cat({cols, at::randn({dim, rank - from_svd}, gen, t.options()) / std::sqrt(double(dim))}, 1);
    f[k] = cols.contiguous();
  }
  return f;
}

/// One ALS update of factor k (solve F_k G_k = MTTKRP_k), normalised; returns the column norms.
at::Tensor update_factor(const at::Tensor& t, Factors& f, int k) {
  const int64_t rank = f[0].size(1);
  at::Tensor gram = at::ones({rank, rank}, t.options());
  for (int j = 0; j < 4; ++j)
    if (j != k) gram = gram * f[j].t().mm(f[j]);
  const at::Tensor rhs = mttkrp(t, f, k);  // [I_k, R]
  // G is symmetric: F_k G = M  <=>  G F_k^T = M^T.
  const at::Tensor solution = std::get<0>(at::linalg_lstsq(gram, rhs.t()));
  at::Tensor fk = solution.t();
  const at::Tensor lambda = fk.norm(2, {0});
  f[k] = (fk / lambda.clamp_min(std::numeric_limits<double>::min()).unsqueeze(0)).contiguous();
  return lambda;
}

}  // namespace

ConvFactors cp_conv_factors(const at::Tensor& out, const at::Tensor& in, const at::Tensor& vertical,
                            const at::Tensor& horizontal) {
  const int64_t r = out.size(1);
  for (const at::Tensor* f : {&out, &in, &vertical, &horizontal})
    if (f->dim() != 2 || f->size(1) != r) throw Error("cp_conv_factors: needs four [dim, R] factors with one R");
  return {ConvMethod::cp,
          {in.t().reshape({r, in.size(0), 1, 1}).contiguous(), vertical.t().reshape({r, 1, vertical.size(0), 1}).contiguous(),
           horizontal.t().reshape({r, 1, 1, horizontal.size(0)}).contiguous(),
           out.reshape({out.size(0), r, 1, 1}).contiguous()}};
}

at::Tensor cp_reconstruct(const CpResult& r) {
  const at::Tensor ones = at::ones({r.out.size(1)}, r.out.options().dtype(at::kDouble));
  return reconstruct(ones, {r.out.to(at::kDouble), r.in.to(at::kDouble), r.vertical.to(at::kDouble),
                            r.horizontal.to(at::kDouble)});
}

CpResult cp_als(const at::Tensor& w, int64_t rank, const CpOptions& options) {
  if (!w.defined() || w.dim() != 4 || !w.is_floating_point()) throw Error("cp_als: needs a 4-d floating-point conv weight");
  if (rank < 1) throw Error("cp_als: rank must be >= 1, got " + std::to_string(rank));
  at::NoGradGuard no_grad;
  const at::Tensor t = w.detach().to(at::kDouble).contiguous();
  const double norm = t.norm().item<double>();
  Factors f = initial_factors(t, rank, options.seed);
  at::Tensor lambda = at::ones({rank}, t.options());
  CpResult res;
  double prev = std::numeric_limits<double>::infinity();
  for (int64_t it = 1; it <= std::max<int64_t>(options.max_iters, 1); ++it) {
    for (int k = 0; k < 4; ++k) lambda = update_factor(t, f, k);
    res.iterations = it;
    res.rel_error = norm > 0 ? (t - reconstruct(lambda, f)).norm().item<double>() / norm : 0.0;
    if (std::abs(prev - res.rel_error) < options.tol) break;
    prev = res.rel_error;
  }
  // Balanced scales: lambda^(1/4) into every factor (lambda >= 0: column norms).
  const at::Tensor s = lambda.pow(0.25).unsqueeze(0);
  const auto dt = w.scalar_type();
  res.out = (f[0] * s).to(dt).contiguous();
  res.in = (f[1] * s).to(dt).contiguous();
  res.vertical = (f[2] * s).to(dt).contiguous();
  res.horizontal = (f[3] * s).to(dt).contiguous();
  res.factors = cp_conv_factors(res.out, res.in, res.vertical, res.horizontal);
  return res;
}

CpResult cp_exact(const at::Tensor& w) {
  if (!w.defined() || w.dim() != 4 || !w.is_floating_point()) throw Error("cp_exact: needs a 4-d floating-point conv weight");
  const int64_t n = w.size(0), c = w.size(1), kh = w.size(2), kw = w.size(3), k = kh * kw;
  const bool by_input = c <= n;  // one term per (c, y, x), else per (n, y, x)
  const int64_t terms = by_input ? c : n;
  const auto opt = w.options();
  // Column q = i kh kw + y kw + x selects i, y and x.
  const at::Tensor select_i = at::eye(terms, opt).repeat_interleave(k, 1);
  const at::Tensor select_y = at::eye(kh, opt).repeat_interleave(kw, 1).repeat({1, terms});
  const at::Tensor select_x = at::eye(kw, opt).repeat({1, terms * kh});
  CpResult r;
  const at::Tensor free = by_input ? w.detach().reshape({n, c * k}) : w.detach().transpose(0, 1).reshape({c, n * k});
  r.out = (by_input ? free : select_i).contiguous();
  r.in = (by_input ? select_i : free).contiguous();
  r.vertical = select_y.contiguous();
  r.horizontal = select_x.contiguous();
  r.factors = cp_conv_factors(r.out, r.in, r.vertical, r.horizontal);
  return r;
}

}  // namespace mc::lowrank
