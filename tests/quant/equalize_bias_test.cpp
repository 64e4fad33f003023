// Cross-layer equalization (float function unchanged, per-channel ranges equalized) and bias
// correction (the mean output error of a quantized layer shrinks).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "data/tensor_dataset.h"
#include "data/loader.h"
#include "ir/model.h"
#include "quantization/bias_correction.h"
#include "quantization/equalize.h"
#include "quantization/insert_qdq.h"
#include "ir/pass_test_util.h"
#include "runtime/executor.h"

using namespace mc::quant;
using mc::ir::Model;
using mc::ir::pass_test::make;  // a verified Model from IR text + tensors

namespace {

const char* kChain = R"IR(graph(%x: f32[2,3,10,10]) {
  %w1 = param[name="c1.weight"]() @c1
  %b1 = param[name="c1.bias"]() @c1
  %h1 = conv2d[padding=[1,1]](%x, %w1, %b1) @c1
  %r1 = relu(%h1) @r1
  %w2 = param[name="c2.weight"]() @c2
  %b2 = param[name="c2.bias"]() @c2
  %h2 = conv2d[padding=[1,1]](%r1, %w2, %b2) @c2
  %r2 = relu(%h2) @r2
  %w3 = param[name="c3.weight"]() @c3
  %h3 = conv2d(%r2, %w3) @c3
  return(%h3)
}
)IR";

// Ratio of the largest to the smallest per-output-channel weight range.
double spread(const at::Tensor& w) {
  at::Tensor r = w.abs().flatten(1).amax(1);
  return (r.max() / r.min()).item<double>();
}

}  // namespace

TEST(CrossLayerEqualization, KeepsTheFunctionAndEqualizesRanges) {
  at::manual_seed(0);
  // Channel ranges spread over two orders of magnitude, as after BatchNorm folding.
  at::Tensor w1 = at::randn({8, 3, 3, 3}) * at::logspace(-1, 1, 8).view({-1, 1, 1, 1});
  at::Tensor w2 = at::randn({6, 8, 3, 3}) * at::logspace(1, -1, 6).view({-1, 1, 1, 1});
  Model m = make(kChain, {{"c1.weight", w1}, {"c1.bias", at::randn({8})}, {"c2.weight", w2}, {"c2.bias", at::randn({6})},
                          {"c3.weight", at::randn({4, 6, 1, 1})}});
  at::Tensor x = at::randn({2, 3, 10, 10});
  at::Tensor before = mc::runtime::Executor(m).run1(x);
  double s1 = spread(m.tensor("c1.weight")), s2 = spread(m.tensor("c2.weight"));
  EqualizeSummary s = equalize_model(m);
  EXPECT_EQ(s.pairs, (std::vector<std::string>{"c1 -> c2", "c2 -> c3"}));
  m.verify();
  at::Tensor after = mc::runtime::Executor(m).run1(x);
  EXPECT_TRUE(at::allclose(after, before, 1e-4, 1e-4)) << (after - before).abs().max().item<float>();
  EXPECT_LT(spread(m.tensor("c1.weight")), s1 / 4) << s1;
  EXPECT_LT(spread(m.tensor("c2.weight")), s2 / 4) << s2;
  // After one pair's equalization its ranges are equal: r1_i == r2_i for c2 -> c3 (the last pair).
  at::Tensor r1 = m.tensor("c2.weight").abs().flatten(1).amax(1);
  at::Tensor r2 = m.tensor("c3.weight").abs().transpose(0, 1).flatten(1).amax(1);
  EXPECT_TRUE(at::allclose(r1, r2, 1e-4, 1e-5));
  // Per-tensor int8 quantization of the weights now loses less.
  EXPECT_TRUE(at::equal(equalization_scales(at::tensor({4.0, 0.0}), at::tensor({1.0, 2.0})), at::tensor({2.0, 1.0}, at::kDouble)));
}

TEST(BiasCorrection, MeanOutputErrorOfAQuantizedLayerShrinks) {
  at::manual_seed(2);
  Model m = make(R"IR(graph(%x: f32[2,8,6,6]) {
  %w = param[name="c.weight"]() @c
  %b = param[name="c.bias"]() @c
  %h = conv2d[padding=[1,1]](%x, %w, %b) @c
  return(%h)
}
)IR",
                 {{"c.weight", at::randn({16, 8, 3, 3}) * 0.2 + 0.05}, {"c.bias", at::randn({16})}});
  Model fl = m.clone();
  // 3-bit weights, float activations: the error is the weights' alone.
  QuantConfig cfg;
  cfg.weights.bits = 3;
  QuantPlan plan = plan_qdq(m, cfg);
  plan.activations.clear();
  insert_qdq(m, plan, {});
  at::Tensor images = at::rand({256, 8, 6, 6});
  auto ds = std::make_shared<mc::data::TensorDataset>("random", images, at::zeros({256}, at::kLong), 1);
  at::Tensor held_out = at::rand({128, 8, 6, 6});  // same distribution, not used for the correction
  auto mean_error = [&](Model& q) {
    at::Tensor e = mc::runtime::Executor(q).run1(held_out) - mc::runtime::Executor(fl).run1(held_out);
    return e.transpose(0, 1).flatten(1).mean(1).abs().mean().item<double>();  // |mean error| per channel
  };
  double before = mean_error(m);
  mc::data::LoaderOptions lo;
  lo.batch_size = 64;
  lo.shuffle = false;
  lo.num_workers = 0;
  mc::data::DataLoader loader(ds, lo);
  BiasCorrectionSummary s = correct_bias(m, plan, loader);
  EXPECT_EQ(s.layers, std::vector<std::string>{"c"});
  double after = mean_error(m);
  EXPECT_LT(after, before / 3) << before << " -> " << after;
}
