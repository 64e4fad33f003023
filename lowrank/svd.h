/// Truncated-SVD factorisations of linear and conv2d weights (pure tensor functions).
///
/// Every function computes in float64 with at::linalg_svd and returns factors in the weight's
/// dtype. For a matrix M = U S Vh (singular values s_1 >= s_2 >= ...), the rank-r factors are
///   left  = U_r sqrt(S_r)      right = sqrt(S_r) Vh_r,        M ~= left right,
/// i.e. the singular values are split as square roots between the two factors (balanced scales,
/// which keeps float32 factors well conditioned). At r = rank(M) the product reproduces M up to
/// float64 rounding (then the cast to the weight's dtype).
///
/// Maximum ranks (r is checked against them; an out-of-range r is an mc::Error):
///   svd_linear   min(out, in)
///   channel_svd  min(N, C kh kw)
///   spatial_svd  min(C kh, N kw)
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "lowrank/factors.h"

namespace mc::lowrank {

/// W [out, in] ~= second [out, r] x first [r, in]   (second = U_r sqrt(S_r), first = sqrt(S_r) Vh_r).
LinearFactors svd_linear(const at::Tensor& w, int64_t r);

/// Channel SVD (Zhang et al. 2016): M = W.reshape(N, C kh kw) ~= U_r sqrt(S_r) . sqrt(S_r) Vh_r;
///   first  = (sqrt(S_r) Vh_r).reshape(r, C, kh, kw)   k x k conv, the original geometry
///   second = (U_r sqrt(S_r)).reshape(N, r, 1, 1)       1 x 1 conv (+ bias)
ConvFactors channel_svd(const at::Tensor& w, int64_t r);

/// Spatial SVD (Jaderberg et al. 2014, scheme 2; AIMET's spatial SVD):
///   M[(c, y), (n, x)] = W[n, c, y, x], M: (C kh) x (N kw), M ~= U_r sqrt(S_r) . sqrt(S_r) Vh_r;
///   first  V[q, c, y, 0] = (U_r sqrt(S_r))[(c, y), q]     [r, C, kh, 1]  vertical conv
///   second H[n, q, 0, x] = (sqrt(S_r) Vh_r)[q, (n, x)]    [N, r, 1, kw]  horizontal conv (+ bias)
/// so that sum_q H[n, q, x] V[q, c, y] = W[n, c, y, x]. Output row i of the vertical conv reads
/// input rows i sh + y dh - ph only and keeps every column, so it takes stride [sh, 1], padding
/// [ph, 0], dilation [dh, 1]; the horizontal conv takes [1, sw], [0, pw], [1, dw].
ConvFactors spatial_svd(const at::Tensor& w, int64_t r);

/// The matrices the SVDs above factor (float64): N x (C kh kw), and (C kh) x (N kw).
at::Tensor channel_matrix(const at::Tensor& w);
at::Tensor spatial_matrix(const at::Tensor& w);
/// Mode-k unfolding of a 4-d weight (float64): mode 0 -> N x (C kh kw), mode 1 -> C x (N kh kw).
at::Tensor mode_unfolding(const at::Tensor& w, int64_t mode);

}  // namespace mc::lowrank
