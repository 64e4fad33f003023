// The shared_weight op and its index (src/ir/shared_index.h, src/ir/ops/shared_weight.cpp):
// the hashed index against the hash written out in 128-bit arithmetic (so the int64 reduction is
// exact), bucket and sign balance, the circulant index against its block definition written as
// loops, the HashedNets gradient (w[k] gets the sum of sign * dV over its bucket) through the
// executor's training forward, and the initialisation as the least-squares projection (against
// at::linalg_lstsq on the explicit design matrix, and the residual orthogonal to every column).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "ir/model.h"
#include "ir/shared_index.h"
#include "runtime/executor.h"

using mc::ir::SharingSpec;

namespace {

SharingSpec hashed(int64_t out, int64_t in, int64_t k, int64_t seed) { return {"hashed", out, in, k, seed, 0}; }
SharingSpec circulant(int64_t out, int64_t in, int64_t b) {
  return {"circulant", out, in, mc::ir::circulant_size(out, in, b), 0, b};
}

// (a x^2 + b x + c) mod p without intermediate reductions (x^2 a < 2^128).
int64_t poly128(int64_t x, int64_t a, int64_t b, int64_t c) {
  const __int128 p = mc::ir::kSharingPrime;
  const __int128 xx = x % p;
  return static_cast<int64_t>((a * xx * xx + b * xx + c) % p);
}

// The model y = linear(x, shared_weight(w), bias) for `s`.
mc::ir::Model linear_model(const SharingSpec& s, const at::Tensor& w) {
  mc::ir::Model m;
  std::string attrs = "method=\"" + s.method + "\", out=" + std::to_string(s.out) + ", in=" + std::to_string(s.in) +
                      ", k=" + std::to_string(s.k) +
                      (s.method == "hashed" ? ", seed=" + std::to_string(s.seed) : ", block=" + std::to_string(s.block));
  m.graph = mc::ir::Graph::parse("graph(%x: f32[3," + std::to_string(s.in) + "]) {\n %w = param[name=\"w\"]()\n" +
                                 " %v = shared_weight[" + attrs + "](%w)\n %b = param[name=\"b\"]()\n" +
                                 " %y = linear(%x, %v, %b)\n return(%y)\n}\n");
  m.tensors["w"] = w;
  m.tensors["b"] = at::zeros({s.out});
  m.infer_shapes();
  m.verify();
  return m;
}

}  // namespace

TEST(SharedWeight, HashedIndexIsTheHashIn128BitArithmetic) {
  for (int64_t seed : {0, 1, 12345}) {
    const auto h = mc::ir::hash_coefficients(seed);
    for (int64_t v : h) EXPECT_TRUE(v >= 1 && v < mc::ir::kSharingPrime);
    const SharingSpec s = hashed(37, 53, 97, seed);
    const auto& ix = mc::ir::sharing_index(s);
    auto idx = ix.index.accessor<int64_t, 2>();
    auto sgn = ix.sign.accessor<float, 2>();
    for (int64_t i = 0; i < s.out; ++i)
      for (int64_t j = 0; j < s.in; ++j) {
        const int64_t x = i * s.in + j;
        ASSERT_EQ(idx[i][j], poly128(x, h[0], h[1], h[2]) % s.k) << i << "," << j;
        ASSERT_EQ(sgn[i][j], 1.0f - 2.0f * static_cast<float>(poly128(x, h[3], h[4], h[5]) % 2));
      }
  }
  // The int64 reduction order of compute() (and of the ONNX graph) is exact for positions past p.
  const auto h = mc::ir::hash_coefficients(7);
  const int64_t p = mc::ir::kSharingPrime;
  for (int64_t x : {int64_t{0}, p - 1, p, 3 * p + 17, (int64_t{1} << 40) + 12345}) {
    const int64_t xp = x % p;
    const int64_t t = ((h[0] * xp % p) * xp % p + h[1] * xp % p + h[2]) % p;
    EXPECT_EQ(t, poly128(x, h[0], h[1], h[2])) << x;
  }
}

TEST(SharedWeight, HashedBucketsAndSignsAreBalanced) {
  // LeNet-300-100's fc1 at ratio 8: 235200 positions into 29400 buckets, 8 per bucket on average.
  const SharingSpec s = hashed(300, 784, 29400, 0);
  const auto& ix = mc::ir::sharing_index(s);
  at::Tensor counts = at::bincount(ix.index.reshape({-1}), {}, s.k);
  // Poisson(8): P(0) = e^-8 = 3.4e-4 (~10 empty buckets expected), P(>= 25) < 1e-6.
  EXPECT_LT(counts.eq(0).sum().item<int64_t>(), 40);
  EXPECT_LT(counts.max().item<int64_t>(), 25);
  const double mean_sign = ix.sign.mean().item<double>();
  EXPECT_LT(std::abs(mean_sign), 0.01) << mean_sign;  // 5 sigma of 235200 fair signs is 0.0103
  // Rows are not shifted copies of each other in bucket space (what a linear hash would give).
  at::Tensor d0 = (ix.index[1] - ix.index[0]).remainder(s.k);
  EXPECT_GT(std::get<0>(at::_unique(d0)).numel(), 700);
}

TEST(SharedWeight, CirculantIndexIsTheBlockDefinition) {
  for (auto [out, in, b] : {std::tuple<int64_t, int64_t, int64_t>{8, 12, 4}, {10, 7, 3}, {300, 784, 16}, {5, 5, 5}}) {
    const SharingSpec s = circulant(out, in, b);
    const int64_t nrb = (out + b - 1) / b, ncb = (in + b - 1) / b;
    EXPECT_EQ(s.k, nrb * ncb * b);
    at::Tensor w = at::randn({s.k});
    at::Tensor v = mc::ir::expand_shared(w, s);
    // Padded matrix of blocks, each block (R, S) from c = w[(R ncb + S) b ...], cropped.
    at::Tensor full = at::zeros({nrb * b, ncb * b});
    auto wa = w.accessor<float, 1>();
    auto fa = full.accessor<float, 2>();
    for (int64_t R = 0; R < nrb; ++R)
      for (int64_t S = 0; S < ncb; ++S)
        for (int64_t r = 0; r < b; ++r)
          for (int64_t c = 0; c < b; ++c) fa[R * b + r][S * b + c] = wa[(R * ncb + S) * b + ((r - c) % b + b) % b];
    EXPECT_TRUE(at::equal(v, full.slice(0, 0, out).slice(1, 0, in))) << out << "x" << in << " b " << b;
    EXPECT_FALSE(mc::ir::sharing_index(s).sign.defined());
  }
}

// HashedNets eq. (8): dL/dw_k = sum over positions (i, j) with h(i, j) = k of xi(i, j) dL/dV_ij.
TEST(SharedWeight, GradientOfEachValueIsTheSignedSumOverItsPositions) {
  for (const SharingSpec& s : {hashed(20, 30, 50, 4), circulant(20, 30, 8)}) {
    at::manual_seed(1);
    mc::ir::Model m = linear_model(s, at::randn({s.k}));
    m.tensors["w"].requires_grad_(true);  // as the trainer marks every param
    mc::runtime::Executor ex(m);
    at::Tensor x = at::randn({3, s.in});
    at::Tensor g = at::randn({3, s.out});
    at::Tensor y = ex.forward({x}, /*training=*/true).at(0);
    (y * g).sum().backward();
    at::Tensor gw = m.tensors["w"].grad();
    ASSERT_TRUE(gw.defined()) << s.method;
    // dL/dV = g^T x; the signed bucket sums in float64.
    at::Tensor dv = at::matmul(g.t().to(at::kDouble), x.to(at::kDouble)).reshape({-1});
    const auto& ix = mc::ir::sharing_index(s);
    if (ix.sign.defined()) dv = dv * ix.sign.reshape({-1}).to(at::kDouble);
    at::Tensor want = at::zeros({s.k}, at::kDouble).index_add_(0, ix.index.reshape({-1}), dv);
    // float32 sums of <= 3 * (positions per value) products: error well below 1e-4 of the scale.
    EXPECT_LE((gw.to(at::kDouble) - want).abs().max().item<double>(), 1e-4 * want.abs().max().item<double>())
        << s.method;
  }
}

TEST(SharedWeight, ForwardEqualsLinearWithTheExpandedWeight) {
  const SharingSpec s = hashed(12, 9, 17, 2);
  at::Tensor w = at::randn({s.k});
  mc::ir::Model m = linear_model(s, w);
  at::Tensor x = at::randn({3, s.in});
  at::Tensor y = mc::runtime::Executor(m).run1(x);
  at::Tensor v = at::zeros({s.out, s.in});
  const auto& ix = mc::ir::sharing_index(s);
  for (int64_t i = 0; i < s.out; ++i)
    for (int64_t j = 0; j < s.in; ++j)
      v[i][j] = ix.sign[i][j].item<float>() * w[ix.index[i][j].item<int64_t>()].item<float>();
  EXPECT_TRUE(at::allclose(y, at::matmul(x, v.t()), 1e-5, 1e-6));
}

// The initialisation is the least-squares fit of the dense weight: the design matrix A [out*in, K]
// has A[(i,j), h(i,j)] = sign(i,j); lstsq gives argmin ||A w - vec(W)||.
TEST(SharedWeight, InitialisationIsTheLeastSquaresProjection) {
  for (const SharingSpec& s : {hashed(12, 10, 17, 9), circulant(10, 14, 4), circulant(7, 5, 4)}) {
    at::manual_seed(3);
    at::Tensor dense = at::randn({s.out, s.in});
    at::Tensor w = mc::ir::project_onto_shared(dense, s).to(at::kDouble);
    const auto& ix = mc::ir::sharing_index(s);
    at::Tensor sign = ix.sign.defined() ? ix.sign.reshape({-1}).to(at::kDouble)
                                        : at::ones({s.out * s.in}, at::kDouble);
    at::Tensor a = at::zeros({s.out * s.in, s.k}, at::kDouble);
    a.scatter_(1, ix.index.reshape({-1, 1}), sign.reshape({-1, 1}));
    at::Tensor b = dense.reshape({-1, 1}).to(at::kDouble);
    // Columns no position reads are zero: lstsq's minimum-norm solution gives them 0 as well (gelsd).
    at::Tensor ref = std::get<0>(at::linalg_lstsq(a, b, c10::nullopt, "gelsd")).reshape({-1});
    EXPECT_LE((w - ref).abs().max().item<double>(), 1e-6) << s.method << " " << s.out << "x" << s.in;
    // Residual orthogonal to the subspace: A^T (b - A w) = 0 (float32 rounding of w: ~1e-7 each).
    at::Tensor resid = b.reshape({-1}) - at::matmul(a, w);
    EXPECT_LE(at::matmul(a.t(), resid).abs().max().item<double>(), 1e-5) << s.method;
    // And it is no worse than a perturbation of itself.
    at::Tensor worse = w + 1e-2 * at::randn_like(w);
    EXPECT_LT(resid.norm().item<double>(), (b.reshape({-1}) - at::matmul(a, worse)).norm().item<double>());
  }
}

TEST(SharedWeight, BadAttributesAreErrors) {
  EXPECT_THROW(mc::ir::check_sharing_spec({"hashd", 3, 4, 5, 0, 0}), mc::Error);
  EXPECT_THROW(mc::ir::check_sharing_spec({"hashed", 3, 4, 0, 0, 0}), mc::Error);
  EXPECT_THROW(mc::ir::check_sharing_spec({"hashed", int64_t{1} << 21, int64_t{1} << 20, 5, 0, 0}), mc::Error);
  EXPECT_THROW(mc::ir::check_sharing_spec({"circulant", 8, 8, 15, 0, 4}), mc::Error);
  EXPECT_NO_THROW(mc::ir::check_sharing_spec({"circulant", 8, 8, 16, 0, 4}));
  // The op's shape check: w must be [k].
  EXPECT_THROW(linear_model(hashed(4, 5, 6, 0), at::randn({7})), mc::Error);
}
