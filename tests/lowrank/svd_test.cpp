// Truncated-SVD factorisations on tensors: exact at the true rank, Eckart-Young error when truncated,
// and the rank helpers.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"
#include "lowrank/rank.h"
#include "lowrank/svd.h"
#include "lowrank/lowrank_test_util.h"

using namespace mc::lowrank;
using mc::lowrank::test::compose;
using mc::lowrank::test::low_rank_matrix;
using mc::lowrank::test::rel_fro;

// Tolerance of weight reproductions: the factors are computed in float64 and rounded to float32
// (relative 6e-8 per element); a product over r terms of rounded factors is off by ~sqrt(r) * 6e-8
// of its scale, measured <= 6e-8 here (Tucker-2 5e-8), so 1e-5 leaves a wide margin and still
// fails on any real mistake (a wrong reshape or factor split is off by O(1)).
constexpr double kWeightTol = 1e-5;

TEST(SvdLinear, ExactAtTheTrueRank) {
  at::manual_seed(0);
  const at::Tensor w = low_rank_matrix(24, 40, 6);
  const LinearFactors f = svd_linear(w, 6);
  ASSERT_EQ(f.first.sizes(), (std::vector<int64_t>{6, 40}));
  ASSERT_EQ(f.second.sizes(), (std::vector<int64_t>{24, 6}));
  EXPECT_EQ(f.first.scalar_type(), at::kFloat);
  const double err = rel_fro(f.second.mm(f.first), w);
  std::printf("svd_linear rank 6 of [24, 40]: relative error %.2e\n", err);
  EXPECT_LT(err, kWeightTol);
}

TEST(SvdLinear, SingularValuesAreSplitAsSquareRoots) {
  at::manual_seed(1);
  const at::Tensor w = at::randn({12, 9});
  const LinearFactors f = svd_linear(w, 4);
  const at::Tensor s = at::linalg_svdvals(w.to(at::kDouble)).narrow(0, 0, 4);
  // Row norms of `first` and column norms of `second` are both sqrt(s_i) (orthonormal U, Vh).
  EXPECT_TRUE(at::allclose(f.first.to(at::kDouble).norm(2, {1}), s.sqrt(), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(f.second.to(at::kDouble).norm(2, {0}), s.sqrt(), 1e-5, 1e-6));
}

TEST(SvdLinear, TruncationErrorIsTheTailOfTheSpectrum) {
  at::manual_seed(2);
  const at::Tensor w = at::randn({16, 20}, at::kDouble);
  const at::Tensor s = at::linalg_svdvals(w);
  for (int64_t r : {1, 5, 15}) {
    const LinearFactors f = svd_linear(w, r);
    const double expected = s.narrow(0, r, s.numel() - r).square().sum().sqrt().item<double>();  // Eckart-Young
    EXPECT_NEAR((w - f.second.mm(f.first)).norm().item<double>(), expected, 1e-9 * expected) << "rank " << r;
  }
}

TEST(SvdLinear, RejectsRanksOutsideTheMatrix) {
  const at::Tensor w = at::randn({4, 6});
  EXPECT_THROW(svd_linear(w, 0), mc::Error);
  EXPECT_THROW(svd_linear(w, 5), mc::Error);
  EXPECT_THROW(svd_linear(at::randn({2, 3, 4}), 1), mc::Error);
}

TEST(ChannelSvd, ExactAtTheTrueRankAndShapes) {
  at::manual_seed(3);
  const at::Tensor w = low_rank_matrix(10, 6 * 3 * 3, 4).reshape({10, 6, 3, 3});
  const ConvFactors f = channel_svd(w, 4);
  ASSERT_EQ(f.weights.size(), 2u);
  EXPECT_EQ(f.weights[0].sizes(), (std::vector<int64_t>{4, 6, 3, 3}));
  EXPECT_EQ(f.weights[1].sizes(), (std::vector<int64_t>{10, 4, 1, 1}));
  const double err = rel_fro(compose(f), w);
  std::printf("channel_svd rank 4 of [10, 6, 3, 3]: relative error %.2e\n", err);
  EXPECT_LT(err, kWeightTol);
  EXPECT_THROW(channel_svd(w, 11), mc::Error);  // max rank min(N, C kh kw) = 10
  EXPECT_NO_THROW(channel_svd(w, 10));
}

// Spatial SVD's matrix is M[(c, y), (n, x)] = W[n, c, y, x]; a weight built from a rank-r M is exact at r.
TEST(SpatialSvd, ExactAtTheTrueRankAndShapes) {
  at::manual_seed(4);
  const int64_t n = 7, c = 5, kh = 3, kw = 2;
  const at::Tensor m = low_rank_matrix(c * kh, n * kw, 3);
  const at::Tensor w = m.reshape({c, kh, n, kw}).permute({2, 0, 1, 3}).contiguous();
  const ConvFactors f = spatial_svd(w, 3);
  ASSERT_EQ(f.weights.size(), 2u);
  EXPECT_EQ(f.weights[0].sizes(), (std::vector<int64_t>{3, c, kh, 1}));
  EXPECT_EQ(f.weights[1].sizes(), (std::vector<int64_t>{n, 3, 1, kw}));
  const double err = rel_fro(compose(f), w);
  std::printf("spatial_svd rank 3 of [7, 5, 3, 2]: relative error %.2e\n", err);
  EXPECT_LT(err, kWeightTol);
  EXPECT_THROW(spatial_svd(w, 15), mc::Error);  // max rank min(C kh, N kw) = min(15, 14) = 14
  EXPECT_NO_THROW(spatial_svd(w, 14));
}

TEST(SpatialSvd, TruncationErrorIsTheTailOfItsMatrixSpectrum) {
  at::manual_seed(5);
  const at::Tensor w = at::randn({6, 4, 3, 3}, at::kDouble);
  const at::Tensor s = at::linalg_svdvals(spatial_matrix(w));
  ASSERT_EQ(s.numel(), 12);
  for (int64_t r : {2, 7}) {
    const double expected = s.narrow(0, r, s.numel() - r).square().sum().sqrt().item<double>();
    EXPECT_NEAR((compose(spatial_svd(w, r)) - w).norm().item<double>(), expected, 1e-9 * expected) << "rank " << r;
  }
}

TEST(EnergyRank, Boundaries) {
  const at::Tensor s = at::tensor({3.0, 1.0});  // energies 9 and 1 of 10
  EXPECT_EQ(energy_rank(s, 1.0), 2);
  EXPECT_EQ(energy_rank(s, 0.9), 1);  // exactly the first component's share
  EXPECT_EQ(energy_rank(s, 0.90001), 2);
  EXPECT_EQ(energy_rank(s, 0.5), 1);
  const at::Tensor four = at::tensor({4.0, 3.0, 2.0, 1.0});  // energies 16, 9, 4, 1 of 30
  EXPECT_EQ(energy_rank(four, 0.9), 3);                     // 25/30 < 0.9 <= 29/30
  EXPECT_EQ(energy_rank(four, 25.0 / 30.0), 2);
  EXPECT_EQ(energy_rank(at::tensor({2.0, 0.0, 0.0}), 1.0), 3);  // energy 1: full rank, zeros included
  EXPECT_EQ(energy_rank(at::tensor({2.0, 0.0, 0.0}), 0.99), 1);
  EXPECT_THROW(energy_rank(s, 0.0), mc::Error);
  EXPECT_THROW(energy_rank(s, 1.5), mc::Error);
}

TEST(RatioRank, CeilOfTheFractionWithinOneAndMax) {
  EXPECT_EQ(ratio_rank(16, 0.25), 4);
  EXPECT_EQ(ratio_rank(30, 0.1), 3);  // 0.1 * 30 is 3.0000000000000004 in double
  EXPECT_EQ(ratio_rank(10, 0.01), 1);
  EXPECT_EQ(ratio_rank(10, 1.0), 10);
  EXPECT_EQ(ratio_rank(7, 0.5), 4);
  EXPECT_THROW(ratio_rank(10, 0.0), mc::Error);
}
