// factorize / rank rules: cp_exact reproduces any weight, the CP -> Tucker-2 fallback stays within
// the CP chain's MACs, rel_error is the weight's relative error, and each rank rule picks the
// ranks it documents.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "lowrank/cp_als.h"
#include "lowrank/factorize.h"
#include "lowrank/lowrank_test_util.h"
#include "lowrank/rank_rule.h"

using namespace mc::lowrank;
using mc::lowrank::test::compose;
using mc::lowrank::test::rel_fro;

namespace {
LayerShape conv_shape(const at::Tensor& w) {
  LayerShape s;
  s.conv = true;
  s.out = w.size(0), s.in = w.size(1), s.kh = w.size(2), s.kw = w.size(3), s.h = s.w = s.ho = s.wo = 8;
  return s;
}
}  // namespace

TEST(CpExact, ReproducesAnyWeightBothWays) {
  at::manual_seed(2);
  for (const auto& w : {at::randn({6, 4, 3, 3}), at::randn({3, 5, 1, 3})}) {
    const CpResult r = cp_exact(w);
    EXPECT_EQ(r.factors.weights[0].size(0), std::min(w.size(0), w.size(1)) * w.size(2) * w.size(3));
    EXPECT_LE(rel_fro(compose(r.factors), w), 1e-7);
  }
}

TEST(Factorize, CpFallsBackToTucker2WithinTheCpMacs) {
  at::manual_seed(3);
  const at::Tensor w = at::randn({8, 8, 3, 3});
  const LayerShape s = conv_shape(w);
  const Factored ok = factorize(w, s, ConvMethod::cp, {6}, CpSettings{50, 0.99});
  EXPECT_FALSE(ok.cp_fallback);
  EXPECT_EQ(ok.method, ConvMethod::cp);
  const Factored f = factorize(w, s, ConvMethod::cp, {6}, CpSettings{50, 1e-6});
  EXPECT_TRUE(f.cp_fallback);
  EXPECT_EQ(f.method, ConvMethod::tucker2);
  EXPECT_GT(f.cp_error, 1e-6);
  EXPECT_LE(factor_cost(s, ConvMethod::tucker2, f.ranks).macs, factor_cost(s, ConvMethod::cp, {6}).macs);
  EXPECT_NEAR(f.rel_error, rel_fro(compose(f.factors), w), 1e-9);
}

TEST(Factorize, CpFallbackRanksAreMultiplesOfRoundTo) {
  at::manual_seed(4);
  const at::Tensor w = at::randn({32, 32, 3, 3});
  const LayerShape s = conv_shape(w);
  const int64_t cp_macs = factor_cost(s, ConvMethod::cp, {40}).macs;
  const Ranks free = tucker2_ranks_within(s, cp_macs);
  EXPECT_NE(free[0] % 8, 0) << "the unrounded fallback of this layer is not a multiple of 8 already";
  const Factored f = factorize(w, s, ConvMethod::cp, {40}, CpSettings{5, 1e-6, 8});
  ASSERT_TRUE(f.cp_fallback);
  EXPECT_EQ(f.ranks, (Ranks{free[0] / 8 * 8, free[1] / 8 * 8}));
  EXPECT_LE(factor_cost(s, ConvMethod::tucker2, f.ranks).macs, cp_macs);
  // Where no multiple fits (a tiny budget), the unrounded ranks are kept.
  EXPECT_EQ(tucker2_ranks_within(s, factor_cost(s, ConvMethod::tucker2, {2, 2}).macs, 8), (Ranks{2, 2}));
}

TEST(Factorize, RelErrorIsTheSvdTail) {
  at::manual_seed(4);
  const at::Tensor w = at::randn({10, 12});
  LayerShape s;
  s.out = 10, s.in = 12, s.rows = 1;
  const Factored f = factorize(w, s, ConvMethod::channel_svd, {4});
  const at::Tensor sv = at::linalg_svdvals(w.to(at::kDouble));
  const double tail = sv.narrow(0, 4, 6).square().sum().sqrt().item<double>() / sv.square().sum().sqrt().item<double>();
  EXPECT_NEAR(f.rel_error, tail, 1e-6);
}

TEST(RankRule, EachRuleGivesItsRanks) {
  at::manual_seed(5);
  const at::Tensor w = at::randn({16, 8, 3, 3});
  const LayerShape s = conv_shape(w);
  RankRule ratio{RankRule::Kind::ratio, {}, 0.25};
  EXPECT_EQ(rule_ranks(w, s, ConvMethod::tucker2, ratio), (Ranks{2, 4}));
  EXPECT_EQ(rule_ranks(w, s, ConvMethod::cp, ratio), Ranks{18});  // 0.25 x 8 x 9
  RankRule one{RankRule::Kind::rank, {3}, 0};
  EXPECT_EQ(rule_ranks(w, s, ConvMethod::tucker2, one), (Ranks{3, 3}));
  RankRule full{RankRule::Kind::energy, {}, 1.0};
  EXPECT_EQ(rule_ranks(w, s, ConvMethod::channel_svd, full), Ranks{16});
  RankRule vbmf{RankRule::Kind::vbmf, {}, 0};
  EXPECT_NE(rule_problem(vbmf, ConvMethod::cp, false), "");
  EXPECT_EQ(rule_problem(vbmf, ConvMethod::tucker2, false), "");
  RankRule energy{RankRule::Kind::energy, {}, 0.5};
  EXPECT_NE(rule_problem(energy, ConvMethod::cp, false).find("energy does not apply to method cp"), std::string::npos);
}
