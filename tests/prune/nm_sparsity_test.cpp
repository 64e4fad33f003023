// N:M sparsity: every group of M consecutive weights along the input channels keeps its N largest.
#include "pruning/nm_sparsity.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

using namespace mc;

namespace {
/// Checks the N:M property of `keep` on w moved so that input channels are last: every group of m
/// has exactly n kept elements, none smaller in |w| than a dropped one of the same group.
void expect_nm(const at::Tensor& w, const at::Tensor& keep, int64_t n, int64_t m, int64_t input_dim) {
  at::Tensor a = w.abs().movedim(input_dim, -1).reshape({-1, m});
  at::Tensor k = keep.movedim(input_dim, -1).reshape({-1, m});
  ASSERT_TRUE(k.sum(1).eq(n).all().item<bool>());
  at::Tensor kept_min = a.masked_fill(k.logical_not(), INFINITY).amin(1);
  at::Tensor dropped_max = a.masked_fill(k, -1.0).amax(1);
  EXPECT_TRUE(kept_min.ge(dropped_max).all().item<bool>());
}
}  // namespace

TEST(NmMask, ConvGroupsAlongInputChannels) {
  at::manual_seed(7);
  at::Tensor w = at::randn({8, 16, 3, 3});
  at::Tensor keep = prune::nm_mask(w, 2, 4, 1);
  ASSERT_EQ(keep.sizes(), w.sizes());
  expect_nm(w, keep, 2, 4, 1);
  // The group of (o=3, kh=1, kw=2) over input channels 4..7, checked by hand.
  at::Tensor g = w.index({3, at::indexing::Slice(4, 8), 1, 2}).abs();
  at::Tensor kg = keep.index({3, at::indexing::Slice(4, 8), 1, 2});
  auto top = std::get<1>(g.topk(2));
  EXPECT_TRUE(kg[top[0].item<int64_t>()].item<bool>());
  EXPECT_TRUE(kg[top[1].item<int64_t>()].item<bool>());
  EXPECT_EQ(kg.sum().item<int64_t>(), 2);
  EXPECT_DOUBLE_EQ(1.0 - keep.sum().item<double>() / keep.numel(), 0.5);
}

TEST(NmMask, LinearAndOtherRatios) {
  at::manual_seed(8);
  at::Tensor w = at::randn({6, 32});
  expect_nm(w, prune::nm_mask(w, 2, 4, 1), 2, 4, 1);
  expect_nm(w, prune::nm_mask(w, 1, 4, 1), 1, 4, 1);
  expect_nm(w, prune::nm_mask(w, 4, 8, 1), 4, 8, 1);
  at::Tensor kn = at::randn({32, 5});  // matmul x @ W: input features along dim 0
  expect_nm(kn, prune::nm_mask(kn, 2, 4, 0), 2, 4, 0);
}

TEST(NmMask, TiesKeepTheLowerIndex) {
  at::Tensor w = at::tensor({1.0f, 1.0f, 1.0f, 1.0f, 0.5f, -2.0f, 2.0f, 0.1f}).view({1, 8});
  at::Tensor keep = prune::nm_mask(w, 2, 4, 1);
  EXPECT_TRUE(keep.equal(at::tensor({1, 1, 0, 0, 0, 1, 1, 0}).to(at::kBool).view({1, 8})));
}

TEST(NmMask, IndivisibleChannelsAreNotApplicable) {
  at::Tensor w = at::randn({16, 3, 3, 3});
  EXPECT_FALSE(prune::nm_applicable(w, 4, 1));
  EXPECT_TRUE(prune::nm_applicable(at::randn({16, 8, 3, 3}), 4, 1));
  EXPECT_THROW(prune::nm_mask(w, 2, 4, 1), mc::Error);
}
