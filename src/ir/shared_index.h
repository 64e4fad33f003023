// The fixed integer index and sign of a shared weight (op `shared_weight`, src/ir/ops/shared_weight.cpp):
// a Linear layer's virtual weight V [out, in] is V[i][j] = sign(i, j) * w[index(i, j)], w the K
// trained values. One representation for two methods:
//
//   hashed     HashedNets (Chen et al. 2015): index = h1(x) mod K, sign = 1 - 2 (h2(x) mod 2) for the
//              flat position x = i * in + j, with h(x) = (a x'^2 + b x' + c) mod p, x' = x mod p,
//              p = 2^31 - 1 (prime) and a, b, c in [1, p) drawn from the seed by splitmix64 (the
//              first three draws for h1, the next three for h2). A degree-2 polynomial mod a prime
//              (3-wise independent family) rather than a linear one: a linear hash makes rows of V
//              near-cyclic shifts of each other in bucket space. Every intermediate stays below
//              2^62, so int64 arithmetic is exact and the ONNX export computes the same index with
//              int64 Mul / Add / Mod (export/ops/shared_weight.cpp).
//   circulant  block-circulant (Cheng et al. 2015, CirCNN): V is the top-left [out, in] crop of a
//              [ceil(out/b) b, ceil(in/b) b] matrix of b x b blocks, block (R, S) defined by one
//              vector c_RS of length b, V_blk[r][s] = c_RS[(r - s) mod b]; index =
//              (R * ceil(in/b) + S) * b + ((i mod b) - (j mod b) + b) mod b, sign +1.
//              K = ceil(out/b) * ceil(in/b) * b. The padding is a crop: the padded rows/columns do
//              not exist, so a block cut by the edge only uses the diagonals its rows and columns
//              reach (the others stay 0 and are stored).
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>

#include "ir/graph.h"

namespace mc::ir {

struct SharingSpec {
  std::string method;  // "hashed" | "circulant"
  int64_t out = 0, in = 0;
  int64_t k = 0;       // stored values (circulant: derived from block)
  int64_t seed = 0;    // hashed
  int64_t block = 0;   // circulant
};

/// The Mersenne prime of the hash family.
constexpr int64_t kSharingPrime = 2147483647;

/// The attributes of a `shared_weight` node; mc::Error for a bad method, sizes or K.
SharingSpec sharing_spec(const Node& n);
/// Checks a spec (positive sizes, out * in <= 2^40, 1 <= k <= p, block >= 1, circulant k = its
/// formula); mc::Error.
void check_sharing_spec(const SharingSpec& s);
/// K of a block-circulant [out, in] weight with block b.
int64_t circulant_size(int64_t out, int64_t in, int64_t block);
/// {a1, b1, c1, a2, b2, c2} of the hashed method, each in [1, p).
std::array<int64_t, 6> hash_coefficients(int64_t seed);

struct SharingIndex {
  at::Tensor index;  // int64 [out, in], values in [0, K)
  at::Tensor sign;   // float32 [out, in] of +-1 (hashed); undefined (circulant: all +1)
};

/// The index (and sign) of `s`, computed once per distinct spec and cached (thread-safe; CPU).
const SharingIndex& sharing_index(const SharingSpec& s);

/// sign * w[index]: the virtual weight [out, in] (differentiable in w, on w's device).
at::Tensor expand_shared(const at::Tensor& w, const SharingSpec& s);

/// The least-squares projection of a dense [out, in] weight onto the shared form: per stored value,
/// the mean of sign * W over the positions that read it (0 for a value no position reads). float64
/// sums, returned as float32 [K].
at::Tensor project_onto_shared(const at::Tensor& dense, const SharingSpec& s);

}  // namespace mc::ir
