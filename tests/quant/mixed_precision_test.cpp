// Automatic mixed precision: the greedy allocation on hand-made sensitivities (worked by hand in
// the comments), bad budgets, and sensitivities measured on the trained resnet8 fixture.
#include <gtest/gtest.h>

#include "common/error.h"
#include "data/factory.h"
#include "data/transform_spec.h"
#include "ir/passes/fold_batch_norm.h"
#include "quantization/mixed_precision.h"
#include "support/test_env.h"
#include "train/evaluator.h"

using namespace mc::quant;

namespace {

LayerSensitivity layer(const std::string& name, int64_t params, double s4, double s2) {
  LayerSensitivity l;
  l.name = l.scope = name;
  l.params = params;
  l.loss_increase = {{8, 0.0}, {4, s4}, {2, s2}};
  return l;
}

}  // namespace

TEST(MixedPrecision, GreedyAllocationMatchesTheHandComputation) {
  // Loss increase per bit saved for each possible step down:
  //   a 8->4: 0.01/400 = 2.5e-5    b 8->4: 0.2/400 = 5e-4    c 8->4: 0.02/3200 = 6.25e-6
  //   a 4->2: 0.49/200 = 2.45e-3   b 4->2: 0.8/200 = 4e-3    c 4->2: 0.28/1600 = 1.75e-4
  // Budget 4.4 average bits over 1000 weights = 4400 bits: c 8->4 (avg 4.8), then a 8->4 (4.4).
  std::vector<LayerSensitivity> ls = {layer("a", 100, 0.01, 0.5), layer("b", 100, 0.2, 1.0), layer("c", 800, 0.02, 0.3)};
  BitAllocation r = choose_bits(ls, {8, 4, 2}, 4.4);
  EXPECT_EQ(r.bits, (std::map<std::string, int64_t>{{"a", 4}, {"b", 8}, {"c", 4}}));
  EXPECT_NEAR(r.average_bits, 4.4, 1e-12);
  EXPECT_NEAR(r.predicted_loss_increase, 0.03, 1e-12);
  // Next steps at a lower budget: c 4->2 (1.75e-4, avg 2.8), then b 8->4 (5e-4, avg 2.4).
  r = choose_bits(ls, {2, 8, 4, 4}, 2.5);  // order and repeats of the candidates do not matter
  EXPECT_EQ(r.bits, (std::map<std::string, int64_t>{{"a", 4}, {"b", 4}, {"c", 2}}));
  EXPECT_NEAR(r.average_bits, 2.4, 1e-12);
  EXPECT_NEAR(r.predicted_loss_increase, 0.01 + 0.2 + 0.3, 1e-12);
  // A budget at the widest candidate changes nothing; at the narrowest, everything goes down.
  EXPECT_EQ(choose_bits(ls, {8, 4, 2}, 8).bits, (std::map<std::string, int64_t>{{"a", 8}, {"b", 8}, {"c", 8}}));
  EXPECT_EQ(choose_bits(ls, {8, 4, 2}, 2).bits, (std::map<std::string, int64_t>{{"a", 2}, {"b", 2}, {"c", 2}}));
}

TEST(MixedPrecision, ImpossibleBudgetsAndCandidatesAreInputErrors) {
  std::vector<LayerSensitivity> ls = {layer("a", 100, 0.01, 0.5)};
  try {
    choose_bits(ls, {8, 4}, 3.5);
    FAIL() << "no error";
  } catch (const mc::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("below the narrowest candidate (4 bits)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(choose_bits(ls, {}, 8), mc::InputError);
  EXPECT_THROW(choose_bits(ls, {9, 4}, 8), mc::InputError);
  EXPECT_THROW(choose_bits(ls, {8, 1}, 8), mc::InputError);
  EXPECT_THROW(choose_bits(ls, {8, 3}, 3), mc::Error);  // no sensitivity measured at 3 bits
}

TEST(MixedPrecision, SensitivitiesOnTheTrainedResnet8RankLayersThatMatter) {
  const std::string path = mc::test::fixture_dir() + "/resnet8_fmnist/resnet8_fmnist.mcm";
  mc::ir::Model m = mc::ir::Model::load(path);
  mc::ir::passes::fold_batch_norm(m);
  const size_t nodes = m.graph.nodes().size();

  mc::data::DatasetSpec ds;
  ds.kind = "fashion_mnist";
  ds.split = "test";
  ds.limit = 256;
  mc::data::TransformSpec norm;
  norm.type = "normalize";
  norm.mean = {0.2860};
  norm.std = {0.3530};
  mc::data::LoaderOptions lo;
  lo.batch_size = 256;
  lo.num_workers = 0;
  lo.transforms = mc::data::make_transforms({norm});
  mc::data::DataLoader loader(mc::data::make_dataset(ds), lo);

  QuantConfig cfg;
  QuantPlan plan = plan_qdq(m, cfg);
  ASSERT_GE(plan.weights.size(), 9u);  // 9 convs and the fc
  SensitivityResult s = measure_sensitivity(m, plan, {8, 4, 2}, loader, 1);
  EXPECT_EQ(s.samples, 256);
  EXPECT_EQ(m.graph.nodes().size(), nodes) << "the float model was changed";
  EXPECT_LT(s.float_loss, 0.6);
  ASSERT_EQ(s.layers.size(), plan.weights.size());
  double worst2 = 0;
  for (const auto& l : s.layers) {
    // 8-bit weights of one layer barely move the loss; 2 bits cost more than 4.
    EXPECT_LT(std::abs(l.loss_increase.at(8)), 0.02) << l.scope;
    EXPECT_GT(l.loss_increase.at(2), l.loss_increase.at(4)) << l.scope;
    worst2 = std::max(worst2, l.loss_increase.at(2));
  }
  EXPECT_GT(worst2, 0.1);

  // The measured ranking is worth something: at the same budget, the allocation it chooses loses
  // less (all chosen weights quantized at once) than the one chosen by the reversed ranking.
  auto realized = [&](const BitAllocation& a) {
    QuantPlan p = plan;
    p.activations.clear();
    for (auto& w : p.weights) {
      w.spec.bits = a.bits.at(w.name);
      w.spec.quant_min = w.spec.quant_max = 0;
    }
    mc::ir::Model q = m.clone();
    insert_qdq(q, p, {});
    return mc::train::evaluate(q, loader, 1).loss - s.float_loss;
  };
  std::vector<LayerSensitivity> reversed = s.layers;
  for (auto& l : reversed)
    for (auto& [b, d] : l.loss_increase) d = -d;
  BitAllocation good = choose_bits(s.layers, {8, 4, 2}, 5.0), bad = choose_bits(reversed, {8, 4, 2}, 5.0);
  EXPECT_LE(good.average_bits, 5.0);
  EXPECT_LE(bad.average_bits, 5.0);
  EXPECT_NE(good.bits, bad.bits);
  EXPECT_LT(realized(good), realized(bad));
}
