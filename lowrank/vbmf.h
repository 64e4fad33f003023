/// Rank estimation by empirical variational Bayesian matrix factorisation (EVBMF): the analytic
/// global solution of Nakajima, Sugiyama, Babacan & Tomioka 2013, "Global analytic solution of
/// fully-observed variational Bayesian matrix factorization" (JMLR 14), with the noise variance
/// estimated as in Nakajima et al. 2015 ("Condition for perfect dimensionality recovery by
/// variational Bayesian PCA", JMLR 16). Kim et al. 2016 use it to pick Tucker-2 ranks.
///
/// For Y [L, M] (transposed first so that L <= M), alpha = L / M, singular values s_1 >= ... >= s_H
/// (H = L), residual = ||Y||_F^2 - sum_h s_h^2 (0 here: the SVD is complete):
///   tau_bar = 2.5129 sqrt(alpha),   x_bar = (1 + tau_bar)(1 + alpha / tau_bar),
///   tau(x) = ( x - (1 + alpha) + sqrt((x - (1 + alpha))^2 - 4 alpha) ) / 2,
/// the noise variance sigma^2 minimises over [lower, upper]
///   F(sigma^2) = sum_{x_h <= x_bar} (x_h - log x_h)
///              + sum_{x_h > x_bar} (x_h - tau(x_h) + log((tau(x_h) + 1) / x_h) + alpha log(tau(x_h) / alpha + 1))
///              + residual / (M sigma^2) + (L - H) log sigma^2,          x_h = s_h^2 / (M sigma^2),
///   upper = (sum_h s_h^2 + residual) / (L M),
///   lower = max(s_{e+1}^2 / (M x_bar), mean_{h > e} s_h^2 / M),  e = min(ceil(L / (1 + alpha)) - 1, H) - 1
///   (0-based s), and the rank is the number of s_h above the VB threshold
///   gamma = sqrt(M sigma^2 (1 + tau_bar)(1 + alpha / tau_bar)) = sqrt(M sigma^2 x_bar).
/// The 1-d minimisation (scipy's bounded Brent in the reference implementation) is done here by
/// a log-spaced scan of 200 points followed by golden-section refinement around the best one.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

namespace mc::lowrank {

/// EVBMF rank of a 2-d matrix (computed in float64); may be 0 (all noise).
int64_t vbmf_rank(const at::Tensor& matrix);

/// Tucker-2 ranks {r_in, r_out} of a conv weight [N, C, kh, kw], as Kim et al.: the EVBMF ranks of
/// the mode-1 (C x N kh kw) and mode-0 (N x C kh kw) unfoldings, each at least 1.
std::pair<int64_t, int64_t> tucker2_vbmf_ranks(const at::Tensor& w);

}  // namespace mc::lowrank
