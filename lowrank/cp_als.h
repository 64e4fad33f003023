/// Rank-R CP (CANDECOMP/PARAFAC) decomposition of a conv2d weight by alternating least squares
/// (Lebedev et al. 2015, "Speeding-up convolutional neural networks using fine-tuned
/// CP-decomposition"; ALS as in Kolda & Bader 2009, "Tensor decompositions and applications", 3.4):
///
///   W[n, c, y, x] ~= sum_q A[n, q] B[c, q] Y[y, q] X[x, q],   A [N, R], B [C, R], Y [kh, R], X [kw, R]
///
/// As convs (x -> y):  1 x 1 conv  B^T  [R, C, 1, 1]             (C -> R)
///                     depthwise   Y^T  [R, 1, kh, 1]  groups R   vertical: stride [sh, 1], padding [ph, 0]
///                     depthwise   X^T  [R, 1, 1, kw]  groups R   horizontal: stride [1, sw], padding [0, pw]
///                     1 x 1 conv  A    [N, R, 1, 1]             (R -> N, + bias)
///
/// ALS: each sweep updates the four factors in turn; for factor k, with the others fixed,
///   F_k = W_(k) KR_k (G_k)^+,   G_k = Hadamard product of F_j^T F_j over j != k  [R, R],
/// where W_(k) KR_k (the MTTKRP, the unfolding times the Khatri-Rao product of the other factors)
/// is one einsum, and F_k G_k = MTTKRP is solved with at::linalg_lstsq (G_k may be singular).
/// Columns are then normalised to unit norm, the norms kept in lambda. Stops when the relative
/// error ||W - W_cp||_F / ||W||_F changes by less than `tol` between sweeps, or after `max_iters`.
/// Initialisation: the leading min(R, I_k) left singular vectors of each unfolding W_(k) (HOSVD),
/// the remaining columns drawn from a normal distribution with a generator seeded by `seed`.
/// At the end lambda is split as lambda^(1/4) into each factor (balanced scales for float32).
/// Everything is float64; the factors and conv weights come back in the weight's dtype.
/// ALS is not guaranteed to reach the best rank-R fit (CP can be degenerate): callers check
/// `rel_error` (the decompose stage falls back to Tucker-2 when it is too large).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "lowrank/factors.h"

namespace mc::lowrank {

struct CpOptions {
  int64_t max_iters = 500;  // ALS sweeps
  double tol = 1e-8;        // stop when the relative error changes by less than this in a sweep
  uint64_t seed = 0;        // random columns of the initialisation
};

struct CpResult {
  at::Tensor out;         // A [N, R]
  at::Tensor in;          // B [C, R]
  at::Tensor vertical;    // Y [kh, R]
  at::Tensor horizontal;  // X [kw, R]
  double rel_error = 0;   // ||W - W_cp||_F / ||W||_F (0 for a zero weight)
  int64_t iterations = 0; // sweeps run
  ConvFactors factors;    // the four conv weights (table above)
};

/// Needs a 4-d floating-point weight and rank >= 1 (mc::Error otherwise).
CpResult cp_als(const at::Tensor& w, int64_t rank, const CpOptions& options = {});

/// The four conv weights of CP factors A [N, R], B [C, R], Y [kh, R], X [kw, R] (table above).
ConvFactors cp_conv_factors(const at::Tensor& out, const at::Tensor& in, const at::Tensor& vertical,
                            const at::Tensor& horizontal);

/// The exact CP factors with R = min(C, N) kh kw terms, one per weight column: for C <= N, term
/// q = (c, y, x) has B, Y, X the unit vectors of c, y, x and A[:, q] = W[:, c, y, x] (for N < C the
/// roles of A and B swap). No ALS; rel_error 0, iterations 0. The decompose stage uses it at the
/// maximum CP rank, where ALS would only approach it.
CpResult cp_exact(const at::Tensor& w);

/// sum_q A[n, q] B[c, q] Y[y, q] X[x, q] (float64): the weight the factors of `r` stand for.
at::Tensor cp_reconstruct(const CpResult& r);

}  // namespace mc::lowrank
