#include "lowrank/vbmf.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "lowrank/svd.h"

namespace mc::lowrank {

namespace {

double tau(double x, double alpha) {
  const double d = x - (1.0 + alpha);
  return 0.5 * (d + std::sqrt(std::max(d * d - 4.0 * alpha, 0.0)));
}

/// F(sigma^2) of the header (Nakajima et al. 2015's objective for the noise variance).
struct Objective {
  std::vector<double> s2;  // squared singular values
  double l, m, residual, x_bar;

  double operator()(double sigma2) const {
    const double alpha = l / m;
    double f = 0.0;
    for (double v : s2) {
      // x = 0 (an exactly zero singular value) would make x - log x infinite everywhere.
      const double x = std::max(v / (m * sigma2), 1e-300);
      if (x <= x_bar) {
        f += x - std::log(x);
      } else {
        const double t = tau(x, alpha);
        f += x - t + std::log((t + 1.0) / x) + alpha * std::log(t / alpha + 1.0);
      }
    }
    return f + residual / (m * sigma2) + (l - static_cast<double>(s2.size())) * std::log(sigma2);
  }
};

/// Minimum of `f` on [lo, hi] (0 < lo <= hi): a log-spaced scan, then golden section in log space
/// between the scan points around the best one.
template <class F>
double minimise_log(const F& f, double lo, double hi) {
  if (hi <= lo) return lo;
  const int n = 200;
  const double a = std::log(lo), b = std::log(hi), step = (b - a) / n;
  int best = 0;
  double best_f = f(lo);
  for (int i = 1; i <= n; ++i) {
    const double v = f(std::exp(a + i * step));
    if (v < best_f) best_f = v, best = i;
  }
  double x0 = a + std::max(best - 1, 0) * step, x1 = a + std::min(best + 1, n) * step;
  const double g = (std::sqrt(5.0) - 1.0) / 2.0;
  for (int it = 0; it < 100 && x1 - x0 > 1e-12; ++it) {
    const double c = x1 - g * (x1 - x0), d = x0 + g * (x1 - x0);
    if (f(std::exp(c)) < f(std::exp(d))) x1 = d;
    else x0 = c;
  }
  return std::exp(0.5 * (x0 + x1));
}

}  // namespace

int64_t vbmf_rank(const at::Tensor& matrix) {
  if (!matrix.defined() || matrix.dim() != 2 || matrix.numel() == 0) throw Error("vbmf_rank: needs a non-empty 2-d matrix");
  at::NoGradGuard no_grad;
  at::Tensor y = matrix.detach().to(at::kDouble);
  if (y.size(0) > y.size(1)) y = y.t();
  const double l = static_cast<double>(y.size(0)), m = static_cast<double>(y.size(1));
  const at::Tensor s = at::linalg_svdvals(y).contiguous();
  const int64_t h = s.numel();
  const double alpha = l / m, tau_bar = 2.5129 * std::sqrt(alpha);
  const double x_bar = (1.0 + tau_bar) * (1.0 + alpha / tau_bar);
  Objective f{std::vector<double>(h), l, m, /*residual=*/0.0, x_bar};
  const double* sp = s.data_ptr<double>();
  for (int64_t i = 0; i < h; ++i) f.s2[i] = sp[i] * sp[i];
  double total = 0.0;
  for (double v : f.s2) total += v;
  if (total <= 0.0) return 0;
  const int64_t e = std::min<int64_t>(static_cast<int64_t>(std::ceil(l / (1.0 + alpha))) - 1, h) - 1;
  double tail = 0.0;
  for (int64_t i = e + 1; i < h; ++i) tail += f.s2[i];
  const double upper = total / (l * m);
  const double lower = std::min(upper, std::max(f.s2[e + 1] / (m * x_bar), tail / double(h - e - 1) / m));
  const double sigma2 = minimise_log(f, std::max(lower, upper * 1e-300), upper);
  const double threshold = std::sqrt(m * sigma2 * x_bar);
  return (s > threshold).sum().item<int64_t>();
}

std::pair<int64_t, int64_t> tucker2_vbmf_ranks(const at::Tensor& w) {
  const int64_t r_in = std::max<int64_t>(vbmf_rank(mode_unfolding(w, 1)), 1);
  const int64_t r_out = std::max<int64_t>(vbmf_rank(mode_unfolding(w, 0)), 1);
  return {r_in, r_out};
}

}  // namespace mc::lowrank
