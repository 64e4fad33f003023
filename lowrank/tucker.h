/// Tucker-2 decomposition of a conv2d weight (Kim et al. 2016, "Compression of deep convolutional
/// neural networks for fast and low power mobile applications"), HOSVD initialisation:
///
///   W [N, C, kh, kw] ~= G x_0 U_out x_1 U_in,
///   U_out [N, r_out]: leading left singular vectors of the mode-0 unfolding W_(0) [N, C kh kw]
///   U_in  [C, r_in]:  leading left singular vectors of the mode-1 unfolding W_(1) [C, N kh kw]
///   G = W x_0 U_out^T x_1 U_in^T,  G[a, b, y, x] = sum_{n, c} U_out[n, a] U_in[c, b] W[n, c, y, x]
///
/// As convs (x -> y):  1 x 1 conv  U_in^T  [r_in, C, 1, 1]        (C -> r_in)
///                     kh x kw conv G       [r_out, r_in, kh, kw]  (original stride/padding/dilation)
///                     1 x 1 conv  U_out   [N, r_out, 1, 1]       (r_out -> N, + bias)
/// A 1 x 1 conv without bias commutes with zero padding, so the core carries the whole geometry.
/// At r_in = C and r_out = N the U are orthogonal and the chain reproduces W exactly (float64).
/// HOSVD is the initialisation Kim et al. use; no HOOI iterations are run (fine-tuning follows).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "lowrank/factors.h"

namespace mc::lowrank {

/// Factors as in the table above (float64 inside, the weight's dtype out). Needs
/// 1 <= r_in <= C and 1 <= r_out <= N (mc::Error otherwise).
ConvFactors tucker2(const at::Tensor& w, int64_t r_in, int64_t r_out);

}  // namespace mc::lowrank
