// Tucker-2 (HOSVD) on tensors: exact at the true multilinear rank and at full rank, orthonormal
// 1 x 1 factors, rank checks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "lowrank/lowrank_test_util.h"
#include "lowrank/tucker.h"

using namespace mc::lowrank;
using mc::lowrank::test::compose;
using mc::lowrank::test::rel_fro;

namespace {
// W = G x_0 U_out x_1 U_in with random G [r_out, r_in, kh, kw]: multilinear rank (r_out, r_in).
at::Tensor tucker_weight(int64_t n, int64_t c, int64_t kh, int64_t kw, int64_t r_in, int64_t r_out) {
  const at::Tensor g = at::randn({r_out, r_in, kh, kw}, at::kDouble);
  return at::einsum("na,abyx,cb->ncyx", {at::randn({n, r_out}, at::kDouble), g, at::randn({c, r_in}, at::kDouble)})
      .to(at::kFloat);
}
}  // namespace

TEST(Tucker2, ExactAtTheTrueRanks) {
  at::manual_seed(10);
  const at::Tensor w = tucker_weight(12, 8, 3, 3, 3, 5);
  const ConvFactors f = tucker2(w, 3, 5);
  ASSERT_EQ(f.weights.size(), 3u);
  EXPECT_EQ(f.weights[0].sizes(), (std::vector<int64_t>{3, 8, 1, 1}));
  EXPECT_EQ(f.weights[1].sizes(), (std::vector<int64_t>{5, 3, 3, 3}));
  EXPECT_EQ(f.weights[2].sizes(), (std::vector<int64_t>{12, 5, 1, 1}));
  const double err = rel_fro(compose(f), w);
  std::printf("tucker2 ranks (3, 5) of [12, 8, 3, 3]: relative error %.2e\n", err);
  EXPECT_LT(err, 1e-5);  // float32 factors of a float64 HOSVD (see kWeightTol in svd_test.cpp)
}

TEST(Tucker2, FullRanksReproduceAnyWeightWithOrthonormalFactors) {
  at::manual_seed(11);
  const at::Tensor w = at::randn({6, 9, 5, 3});
  const ConvFactors f = tucker2(w, 9, 6);
  EXPECT_LT(rel_fro(compose(f), w), 1e-5);
  const at::Tensor u_in = f.weights[0].to(at::kDouble).reshape({9, 9});  // rows = U_in^T
  EXPECT_TRUE(at::allclose(u_in.mm(u_in.t()), at::eye(9, at::kDouble), 1e-6, 1e-6));
  const at::Tensor u_out = f.weights[2].to(at::kDouble).reshape({6, 6});
  EXPECT_TRUE(at::allclose(u_out.t().mm(u_out), at::eye(6, at::kDouble), 1e-6, 1e-6));
}

TEST(Tucker2, TruncationNeverBeatsTheBestModeRankApproximation) {
  // HOSVD's error is at least the best rank-r_out approximation of the mode-0 unfolding (the tail of
  // its spectrum) and at most sqrt(2) times the quasi-optimal bound (De Lathauwer et al. 2000).
  at::manual_seed(12);
  const at::Tensor w = at::randn({10, 8, 3, 3}, at::kDouble);
  const at::Tensor s0 = at::linalg_svdvals(w.reshape({10, -1}));
  const at::Tensor s1 = at::linalg_svdvals(w.transpose(0, 1).reshape({8, -1}));
  const double tail0 = s0.narrow(0, 4, 6).square().sum().item<double>();
  const double tail1 = s1.narrow(0, 3, 5).square().sum().item<double>();
  const double err = (compose(tucker2(w, 3, 4)) - w).norm().item<double>();
  EXPECT_GE(err, std::sqrt(std::max(tail0, tail1)) * (1 - 1e-9));
  EXPECT_LE(err, std::sqrt(tail0 + tail1) * (1 + 1e-9));
}

TEST(Tucker2, RejectsRanksOutsideTheChannels) {
  const at::Tensor w = at::randn({6, 4, 3, 3});
  EXPECT_THROW(tucker2(w, 5, 3), mc::Error);  // r_in <= C = 4
  EXPECT_THROW(tucker2(w, 2, 7), mc::Error);  // r_out <= N = 6
  EXPECT_THROW(tucker2(w, 0, 3), mc::Error);
}
