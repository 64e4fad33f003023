// Unit selection (pure helpers) and importance criteria on hand-made tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "prune/channel_test_util.h"
#include "pruning/channel_select.h"
#include "pruning/importance.h"

using namespace mc::prune;
using namespace mc::prune::test;

TEST(ChannelSelect, RoundKeptToMultiples) {
  EXPECT_EQ(round_kept(64, 32, 8), 32);
  EXPECT_EQ(round_kept(64, 29, 8), 32);
  EXPECT_EQ(round_kept(64, 27, 8), 24);
  EXPECT_EQ(round_kept(64, 2, 8), 8);     // at least one multiple
  EXPECT_EQ(round_kept(20, 19, 8), 16);
  EXPECT_EQ(round_kept(20, 20, 8), 20);   // nothing pruned stays whole
  EXPECT_EQ(round_kept(6, 3, 8), 6);      // smaller than round_to: left whole
  EXPECT_EQ(round_kept(10, 0, 1), 1);     // never zero
}

TEST(ChannelSelect, UniformRemovesTheLowestOfEachGroup) {
  std::vector<std::vector<double>> s{{5, 1, 4, 2}, {0.1, 0.3, 0.2, 0.9, 0.4, 0.5}};
  auto r = select_units(s, 0.5, false, 1);
  EXPECT_EQ(r[0], (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(r[1], (std::vector<int64_t>{0, 1, 2}));
  auto none = select_units(s, 0.0, false, 1);
  EXPECT_TRUE(none[0].empty() && none[1].empty());
  auto most = select_units(s, 0.95, false, 1);  // floor(0.95 * 4) = 3, never all
  EXPECT_EQ(most[0].size(), 3u);
}

TEST(ChannelSelect, GlobalNormalisesPerGroupAndKeepsOne) {
  // Group 1 has ten times the scale; after normalisation its relative spread decides.
  std::vector<std::vector<double>> s{{1, 1, 1, 1}, {1, 19, 10, 10}};
  auto r = select_units(s, 0.25, true, 1);  // 2 of 8 go: group 1's 1 (0.1 of mean) and one of group 0's
  EXPECT_EQ(r[1], (std::vector<int64_t>{0}));
  EXPECT_EQ(r[0].size(), 1u);
  auto all = select_units({{1, 2}, {3, 4}}, 0.95, true, 1);
  EXPECT_EQ(all[0].size() + all[1].size(), 2u);  // each keeps one
}

TEST(ChannelSelect, InfiniteScoresAreNeverPruned) {
  const double inf = std::numeric_limits<double>::infinity();
  auto r = select_units({{inf, inf, 1, inf}}, 0.75, false, 1);
  EXPECT_EQ(r[0], (std::vector<int64_t>{2}));
}

namespace {
// conv a (4 filters) -> bn -> relu -> conv b: a's unit i owns a.weight[i], bn[i], b.weight[:, i].
mc::ir::Model two_convs() {
  std::map<std::string, std::vector<int64_t>> shapes{{"a.weight", {4, 2, 1, 1}}, {"b.weight", {3, 4, 1, 1}},
                                                     {"bn.weight", {4}}, {"bn.bias", {4}},
                                                     {"bn.running_mean", {4}}, {"bn.running_var", {4}}};
  mc::ir::Model m = tiny_model(R"IR(graph(%x: f32[1,2,4,4]) {
  %wa = param[name="a.weight"]() @a
  %ca = conv2d(%x, %wa) @a
  %g = param[name="bn.weight"]() @bn
  %be = param[name="bn.bias"]() @bn
  %mu = constant[name="bn.running_mean"]() @bn
  %v = constant[name="bn.running_var"]() @bn
  %n = batch_norm(%ca, %g, %be, %mu, %v) @bn
  %r = relu(%n)
  %wb = param[name="b.weight"]() @b
  %y = conv2d(%r, %wb) @b
  return(%y)
}
)IR", shapes);
  m.tensors["a.weight"] = at::tensor({1.f, -1.f, 0.f, 3.f, 2.f, 2.f, -0.5f, 0.5f}).reshape({4, 2, 1, 1});
  m.tensors["b.weight"] = at::tensor({1.f, 0.f, 0.f, 1.f, 1.f, 0.f, 0.f, 1.f, 1.f, 0.f, 0.f, 1.f}).reshape({3, 4, 1, 1});
  m.tensors["bn.weight"] = at::tensor({0.5f, -2.f, 0.1f, 1.f});
  return m;
}
}  // namespace

TEST(Importance, NormsSumOverProducerAndConsumerSlices) {
  mc::ir::Model m = two_convs();
  DependencyGraph g = analyze_channels(m);
  const std::vector<Group> groups = g.groups();
  ASSERT_EQ(groups.size(), 1u);
  const Group& grp = groups[0];
  // l1: |a.weight[i]| + |b.weight[:, i]|: {2+3, 3+0, 4+0, 1+3}
  EXPECT_EQ(unit_importance(m, grp, Criterion::l1), (std::vector<double>{5, 3, 4, 4}));
  auto l2 = unit_importance(m, grp, Criterion::l2);  // sqrt(sum of squares)
  EXPECT_NEAR(l2[0], std::sqrt(1 + 1 + 3.0), 1e-6);
  EXPECT_NEAR(l2[1], std::sqrt(9.0), 1e-6);
  EXPECT_NEAR(l2[2], std::sqrt(8.0), 1e-6);
  EXPECT_NEAR(l2[3], std::sqrt(0.5 + 3.0), 1e-6);
  EXPECT_EQ(unit_importance(m, grp, Criterion::bn_scale), (std::vector<double>{0.5, 2, double(0.1f), 1}));  // stored as f32
}

TEST(Importance, FpgmScoresDistanceToTheOtherFilters) {
  mc::ir::Model m = two_convs();
  // Filters (a.weight rows): (1,-1), (0,3), (2,2), (-0.5,0.5): sum of distances to the others.
  auto s = unit_importance(m, analyze_channels(m).groups()[0], Criterion::fpgm);
  at::Tensor f = m.tensor("a.weight").reshape({4, 2}).to(at::kDouble);
  for (int64_t i = 0; i < 4; ++i) EXPECT_NEAR(s[i], (f - f[i]).norm(2, {1}).sum().item<double>(), 1e-9);
  // (-0.5, 0.5) is nearest the others' median region: least distance among them here.
  EXPECT_EQ(std::min_element(s.begin(), s.end()) - s.begin(), 3);
}

TEST(Importance, TaylorUsesWeightTimesGradient) {
  mc::ir::Model m = two_convs();
  std::map<std::string, at::Tensor> grads{{"a.weight", at::ones({4, 2, 1, 1}) * 2},
                                          {"b.weight", at::zeros({3, 4, 1, 1})},
                                          {"bn.weight", at::tensor({1.f, 0.f, 0.f, 0.f})}};
  // |w * g| summed: a rows *2 = {4, 6, 8, 2} plus |0.5 * 1| for unit 0.
  EXPECT_EQ(unit_importance(m, analyze_channels(m).groups()[0], Criterion::taylor, grads),
            (std::vector<double>{4.5, 6, 8, 2}));
}
