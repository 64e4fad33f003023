// EVBMF rank: finds the rank of a low-rank matrix under Gaussian noise; Tucker-2 ranks from the
// unfoldings.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "lowrank/vbmf.h"

using namespace mc::lowrank;

TEST(Vbmf, FindsRankFiveUnderSmallNoise) {
  for (uint64_t seed : {30, 31, 32}) {
    at::manual_seed(seed);
    // Signal singular values ~ sqrt(60 * 90) ~ 70, noise ones <= 0.01 (sqrt(60) + sqrt(90)) ~ 0.17.
    const at::Tensor y = at::randn({60, 5}).mm(at::randn({5, 90})) + 0.01 * at::randn({60, 90});
    EXPECT_EQ(vbmf_rank(y), 5) << "seed " << seed;
    EXPECT_EQ(vbmf_rank(y.t()), 5) << "seed " << seed << " (transposed)";
  }
}

TEST(Vbmf, NoiseAtTheSignalScaleHidesWeakComponents) {
  // Components at 40, 20 and 0.05 x the noise edge: EVBMF keeps the two clearly above its threshold.
  at::manual_seed(33);
  const int64_t l = 50, m = 80;
  const at::Tensor u = std::get<0>(at::linalg_qr(at::randn({l, 3}, at::kDouble)));
  const at::Tensor v = std::get<0>(at::linalg_qr(at::randn({m, 3}, at::kDouble)));
  const double edge = std::sqrt(double(l)) + std::sqrt(double(m));  // largest noise singular value, sigma = 1
  const at::Tensor s = at::tensor({40.0 * edge, 20.0 * edge, 0.05 * edge}, at::kDouble);
  const at::Tensor y = u.mm(at::diag(s)).mm(v.t()) + at::randn({l, m}, at::kDouble);
  EXPECT_EQ(vbmf_rank(y), 2);
}

TEST(Vbmf, PureNoiseHasRankZero) {
  at::manual_seed(34);
  EXPECT_EQ(vbmf_rank(at::randn({40, 70})), 0);
}

TEST(Vbmf, Tucker2RanksFromTheUnfoldings) {
  at::manual_seed(35);
  // Multilinear rank (r_out 4, r_in 3) plus small noise.
  const at::Tensor g = at::randn({4, 3, 3, 3}, at::kDouble);
  at::Tensor w = at::einsum("na,abyx,cb->ncyx", {at::randn({32, 4}, at::kDouble), g, at::randn({24, 3}, at::kDouble)});
  w = (w + 0.001 * at::randn(w.sizes(), at::kDouble)).to(at::kFloat);
  const auto [r_in, r_out] = tucker2_vbmf_ranks(w);
  EXPECT_EQ(r_in, 3);
  EXPECT_EQ(r_out, 4);
  EXPECT_THROW(vbmf_rank(at::randn({3})), mc::Error);
}
