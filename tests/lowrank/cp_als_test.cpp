// CP-ALS on tensors: recovers a tensor of known CP rank, error falls with the rank, deterministic
// for a seed, and its conv factors compose to the reconstruction.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "lowrank/cp_als.h"
#include "lowrank/lowrank_test_util.h"

using namespace mc::lowrank;
using mc::lowrank::test::compose;
using mc::lowrank::test::rel_fro;

namespace {
// sum_q A[n, q] B[c, q] Y[y, q] X[x, q] with Gaussian factors: CP rank r (generically).
at::Tensor cp_weight(int64_t n, int64_t c, int64_t kh, int64_t kw, int64_t r) {
  return at::einsum("nq,cq,yq,xq->ncyx", {at::randn({n, r}, at::kDouble), at::randn({c, r}, at::kDouble),
                                          at::randn({kh, r}, at::kDouble), at::randn({kw, r}, at::kDouble)});
}
}  // namespace

TEST(CpAls, RecoversATensorOfKnownCpRank) {
  at::manual_seed(20);
  const at::Tensor w = cp_weight(8, 6, 3, 3, 4);
  CpOptions o;
  o.max_iters = 1000;
  o.tol = 1e-12;
  o.seed = 7;
  const CpResult r = cp_als(w, 4, o);
  std::printf("cp_als rank 4 on a CP-rank-4 [8, 6, 3, 3] tensor: relative error %.2e after %lld sweeps\n", r.rel_error,
              static_cast<long long>(r.iterations));
  EXPECT_LT(r.rel_error, 1e-4);
  // The returned error is the factors' (float64 before the cast to the weight's dtype).
  EXPECT_NEAR(rel_fro(cp_reconstruct(r), w), r.rel_error, 1e-6);
}

TEST(CpAls, FactorShapesAndConvWeightsComposeToTheReconstruction) {
  at::manual_seed(21);
  const at::Tensor w = at::randn({5, 3, 3, 2});
  const CpResult r = cp_als(w, 6, {50, 1e-8, 0});
  EXPECT_EQ(r.out.sizes(), (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(r.in.sizes(), (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(r.vertical.sizes(), (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(r.horizontal.sizes(), (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(r.out.scalar_type(), at::kFloat);
  ASSERT_EQ(r.factors.weights.size(), 4u);
  EXPECT_EQ(r.factors.weights[0].sizes(), (std::vector<int64_t>{6, 3, 1, 1}));
  EXPECT_EQ(r.factors.weights[1].sizes(), (std::vector<int64_t>{6, 1, 3, 1}));
  EXPECT_EQ(r.factors.weights[2].sizes(), (std::vector<int64_t>{6, 1, 1, 2}));
  EXPECT_EQ(r.factors.weights[3].sizes(), (std::vector<int64_t>{5, 6, 1, 1}));
  EXPECT_LT(rel_fro(compose(r.factors), cp_reconstruct(r)), 1e-12);
  EXPECT_NEAR(rel_fro(cp_reconstruct(r), w.to(at::kDouble)), r.rel_error, 1e-6);
}

TEST(CpAls, ErrorFallsWithTheRankOnARandomTensor) {
  at::manual_seed(22);
  const at::Tensor w = at::randn({8, 8, 3, 3});
  double prev = 1.0;
  for (int64_t rank : {1, 2, 4, 8, 16, 32}) {
    const CpResult r = cp_als(w, rank, {100, 1e-8, 0});
    std::printf("cp_als random [8, 8, 3, 3] rank %lld: relative error %.4f (%lld sweeps)\n", static_cast<long long>(rank),
                r.rel_error, static_cast<long long>(r.iterations));
    EXPECT_LT(r.rel_error, prev) << "rank " << rank;
    prev = r.rel_error;
  }
}

TEST(CpAls, SameSeedSameFactors) {
  at::manual_seed(23);
  const at::Tensor w = at::randn({4, 5, 3, 3});
  const CpResult a = cp_als(w, 12, {50, 1e-9, 3});  // rank > every mode: random init columns used
  const CpResult b = cp_als(w, 12, {50, 1e-9, 3});
  EXPECT_TRUE(at::equal(a.out, b.out));
  EXPECT_TRUE(at::equal(a.horizontal, b.horizontal));
  EXPECT_EQ(a.iterations, b.iterations);
}

TEST(CpAls, RejectsBadInput) {
  EXPECT_THROW(cp_als(at::randn({4, 4, 3}), 2), mc::Error);
  EXPECT_THROW(cp_als(at::randn({4, 4, 3, 3}), 0), mc::Error);
}
