// fold_batch_norm: batch_norm after conv2d/linear folds into the layer's weight and bias.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ir/model.h"
#include "ir/passes/fold_batch_norm.h"
#include "ir/passes/pass_util.h"
#include "ir/pass_test_util.h"
#include "runtime/executor.h"

using namespace mc::ir;
using mc::ir::passes::fold_batch_norm;

using mc::ir::pass_test::count;
using mc::ir::pass_test::make;

namespace {
// Batch-norm tensors `<prefix>.{weight,bias,running_mean,running_var}` far from their defaults.
void add_bn(std::map<std::string, at::Tensor>& t, const std::string& prefix, int64_t c) {
  t[prefix + ".weight"] = at::randn({c}) * 2;
  t[prefix + ".bias"] = at::randn({c});
  t[prefix + ".running_mean"] = at::randn({c}) * 3 + 1;
  t[prefix + ".running_var"] = at::rand({c}) * 4 + 0.05;
}
const char* kBnNodes = R"IR(
  %g = param[name="bn.weight"]() @bn
  %be = param[name="bn.bias"]() @bn
  %mu = constant[name="bn.running_mean"]() @bn
  %var = constant[name="bn.running_var"]() @bn
)IR";

// Runs the pass on `m` and checks: it changed, no batch_norm is left, verify passes, and outputs on
// random inputs are equal before and after.
void fold_and_compare(Model& m, const std::vector<int64_t>& input_shape) {
  at::Tensor x = at::randn(input_shape);
  at::Tensor before = mc::runtime::Executor(m).run1(x);
  ASSERT_TRUE(fold_batch_norm(m));
  m.infer_shapes();
  m.verify();
  EXPECT_EQ(count(m, "batch_norm"), 0);
  for (const char* t : {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}) EXPECT_EQ(m.tensors.count(t), 0u) << t;
  at::Tensor after = mc::runtime::Executor(m).run1(x);
  EXPECT_TRUE(at::allclose(after, before, 1e-4, 1e-4)) << (after - before).abs().max().item<float>();
  EXPECT_FALSE(fold_batch_norm(m));
}
}  // namespace

TEST(FoldBatchNorm, ConvWithBiasOverwritesItsOwnTensors) {
  at::manual_seed(0);
  std::map<std::string, at::Tensor> t{{"conv.weight", at::randn({6, 3, 3, 3})}, {"conv.bias", at::randn({6})}};
  add_bn(t, "bn", 6);
  Model m = make(std::string("graph(%x: f32[2,3,8,8]) {\n") + R"IR(
  %w = param[name="conv.weight"]() @conv
  %b = param[name="conv.bias"]() @conv
  %c = conv2d[padding=[1,1], stride=[2,2]](%x, %w, %b) @conv
)IR" + kBnNodes + R"IR(
  %y = batch_norm[eps=0.001, momentum=0.1](%c, %g, %be, %mu, %var) @bn
  %r = relu(%y)
  return(%r)
}
)IR", t);
  fold_and_compare(m, {2, 3, 8, 8});
  // relu reads the conv; the conv keeps its scope, inputs and parameter names.
  Node* conv = m.graph.outputs()[0]->producer()->input(0)->producer();
  ASSERT_EQ(conv->op(), "conv2d");
  EXPECT_EQ(conv->scope(), "conv");
  EXPECT_EQ(conv->input(1), m.graph.find_value("w"));
  EXPECT_EQ(conv->input(2), m.graph.find_value("b"));
  EXPECT_EQ(m.param_names(), (std::vector<std::string>{"conv.weight", "conv.bias"}));
  EXPECT_EQ(m.graph.num_nodes(), 4u);
}

TEST(FoldBatchNorm, ConvWithoutBiasGetsABiasParam) {
  at::manual_seed(1);
  std::map<std::string, at::Tensor> t{{"conv.weight", at::randn({4, 3, 3, 3})}};
  add_bn(t, "bn", 4);
  Model m = make(std::string("graph(%x: f32[2,3,7,7]) {\n") + R"IR(
  %w = param[name="conv.weight"]() @conv
  %c = conv2d(%x, %w) @conv
)IR" + kBnNodes + R"IR(
  %y = batch_norm[eps=0.00001](%c, %g, %be, %mu, %var) @bn
  return(%y)
}
)IR", t);
  fold_and_compare(m, {2, 3, 7, 7});
  Node* conv = m.graph.outputs()[0]->producer();
  ASSERT_EQ(conv->op(), "conv2d");
  ASSERT_EQ(conv->inputs().size(), 3u);
  EXPECT_EQ(conv->input(2)->producer()->op(), "param");
  EXPECT_EQ(conv->input(2)->producer()->attrs().s("name"), "conv.bias");
  EXPECT_EQ(m.param_names(), (std::vector<std::string>{"conv.weight", "conv.bias"}));
}

TEST(FoldBatchNorm, DepthwiseAndGroupedConvs) {
  at::manual_seed(2);
  std::map<std::string, at::Tensor> t{{"dw.weight", at::randn({8, 1, 3, 3})}, {"gw.weight", at::randn({6, 4, 1, 1})},
                                      {"gw.bias", at::randn({6})}};
  add_bn(t, "bn", 8);
  add_bn(t, "bn2", 6);
  Model m = make(std::string("graph(%x: f32[3,8,6,6]) {\n") + R"IR(
  %w = param[name="dw.weight"]() @dw
  %c = conv2d[groups=8, padding=[1,1]](%x, %w) @dw
)IR" + kBnNodes + R"IR(
  %y = batch_norm(%c, %g, %be, %mu, %var) @bn
  %w2 = param[name="gw.weight"]() @gw
  %b2 = param[name="gw.bias"]() @gw
  %c2 = conv2d[groups=2](%y, %w2, %b2) @gw
  %g2 = param[name="bn2.weight"]() @bn2
  %be2 = param[name="bn2.bias"]() @bn2
  %mu2 = constant[name="bn2.running_mean"]() @bn2
  %var2 = constant[name="bn2.running_var"]() @bn2
  %y2 = batch_norm[eps=0.01](%c2, %g2, %be2, %mu2, %var2) @bn2
  return(%y2)
}
)IR", t);
  fold_and_compare(m, {3, 8, 6, 6});
  EXPECT_EQ(count(m, "conv2d"), 2);
  EXPECT_EQ(m.tensors.count("bn2.running_var"), 0u);
  EXPECT_EQ(m.param_names(), (std::vector<std::string>{"dw.weight", "dw.bias", "gw.weight", "gw.bias"}));
}

TEST(FoldBatchNorm, LinearWithBatchNorm1d) {
  at::manual_seed(3);
  std::map<std::string, at::Tensor> t{{"fc.weight", at::randn({5, 12})}, {"fc.bias", at::randn({5})}};
  add_bn(t, "bn", 5);
  Model m = make(std::string("graph(%x: f32[4,12]) {\n") + R"IR(
  %w = param[name="fc.weight"]() @fc
  %b = param[name="fc.bias"]() @fc
  %l = linear(%x, %w, %b) @fc
)IR" + kBnNodes + R"IR(
  %y = batch_norm(%l, %g, %be, %mu, %var) @bn
  return(%y)
}
)IR", t);
  fold_and_compare(m, {4, 12});
  EXPECT_EQ(m.graph.outputs()[0]->producer()->op(), "linear");
}

TEST(FoldBatchNorm, SharedWeightGetsNewTensorsPerLayer) {
  at::manual_seed(4);
  std::map<std::string, at::Tensor> t{{"w", at::randn({4, 4, 3, 3})}};
  add_bn(t, "bn", 4);
  add_bn(t, "bnb", 4);
  Model m = make(std::string("graph(%x: f32[2,4,6,6]) {\n") + R"IR(
  %w = param[name="w"]()
  %c = conv2d[padding=[1,1]](%x, %w) @conv_a
)IR" + kBnNodes + R"IR(
  %y = batch_norm(%c, %g, %be, %mu, %var) @bn
  %c2 = conv2d[padding=[1,1]](%y, %w) @conv_b
  %g2 = param[name="bnb.weight"]() @bnb
  %be2 = param[name="bnb.bias"]() @bnb
  %mu2 = constant[name="bnb.running_mean"]() @bnb
  %var2 = constant[name="bnb.running_var"]() @bnb
  %y2 = batch_norm(%c2, %g2, %be2, %mu2, %var2) @bnb
  return(%y2)
}
)IR", t);
  at::Tensor w_before = m.tensors.at("w").clone();
  fold_and_compare(m, {2, 4, 6, 6});
  // The shared tensor is never overwritten in place: the first fold gives conv_a its own weight;
  // conv_b is then the only user of "w" and overwrites it.
  EXPECT_EQ(m.param_names(), (std::vector<std::string>{"w", "conv_a.weight", "conv_a.bias", "conv_b.bias"}));
  EXPECT_FALSE(at::equal(m.tensors.at("conv_a.weight"), w_before));
}

TEST(FoldBatchNorm, FrozenConstantWeightBecomesAParamUnderItsName) {
  at::manual_seed(6);
  std::map<std::string, at::Tensor> t{{"conv.weight", at::randn({4, 2, 3, 3})}, {"conv.bias", at::randn({4})}};
  add_bn(t, "bn", 4);
  Model m = make(std::string("graph(%x: f32[1,2,5,5]) {\n") + R"IR(
  %w = constant[name="conv.weight"]()
  %b = constant[name="conv.bias"]()
  %c = conv2d(%x, %w, %b)
)IR" + kBnNodes + R"IR(
  %y = batch_norm(%c, %g, %be, %mu, %var) @bn
  return(%y)
}
)IR", t);
  fold_and_compare(m, {1, 2, 5, 5});
  EXPECT_EQ(m.param_names(), (std::vector<std::string>{"conv.weight", "conv.bias"}));
  EXPECT_EQ(passes::op_counts(m.graph).count("constant"), 0u);
  EXPECT_EQ(m.tensors.size(), 2u);
}

TEST(FoldBatchNorm, LeavesBatchNormWhoseConvOutputHasASecondUser) {
  std::map<std::string, at::Tensor> t{{"conv.weight", at::randn({4, 3, 3, 3})}};
  add_bn(t, "bn", 4);
  Model m = make(std::string("graph(%x: f32[2,3,8,8]) {\n") + R"IR(
  %w = param[name="conv.weight"]() @conv
  %c = conv2d(%x, %w) @conv
)IR" + kBnNodes + R"IR(
  %y = batch_norm(%c, %g, %be, %mu, %var) @bn
  %s = add(%y, %c)
  return(%s)
}
)IR", t);
  const std::string before = m.graph.to_string();
  EXPECT_FALSE(fold_batch_norm(m));
  EXPECT_EQ(m.graph.to_string(), before);
  EXPECT_EQ(m.tensors.size(), 5u);
}

TEST(FoldBatchNorm, LeavesStandaloneBatchNormAndGraphOutputConv) {
  std::map<std::string, at::Tensor> t{{"conv.weight", at::randn({3, 3, 1, 1})}};
  add_bn(t, "bn", 3);
  Model m = make(std::string("graph(%x: f32[2,3,8,8]) {\n") + R"IR(
  %w = param[name="conv.weight"]() @conv
  %c = conv2d(%x, %w) @conv
)IR" + kBnNodes + R"IR(
  %y = batch_norm(%x, %g, %be, %mu, %var) @bn
  %z = batch_norm(%c, %g, %be, %mu, %var) @bn
  %r = relu(%y)
  return(%r, %z, %c)
}
)IR", t);
  const std::string before = m.graph.to_string();
  EXPECT_FALSE(fold_batch_norm(m));
  EXPECT_EQ(m.graph.to_string(), before);
}

TEST(FoldBatchNorm, FoldedWeightsMatchConvThenBatchNorm) {
  at::manual_seed(5);
  at::Tensor x = at::randn({2, 4, 5, 5});
  at::Tensor w = at::randn({6, 2, 3, 3});
  at::Tensor b = at::randn({6});
  passes::BatchNormParams bn{at::randn({6}), at::randn({6}), at::randn({6}) * 5, at::rand({6}) * 10 + 0.1, 1e-3};
  for (bool with_bias : {true, false}) {
    at::Tensor bias = with_bias ? b : at::Tensor();
    passes::LayerWeights f = passes::fold_bn_weights(w, bias, bn);
    at::Tensor ref = at::batch_norm(at::conv2d(x, w, bias, 1, 1, 1, 2), bn.gamma, bn.beta, bn.mean, bn.var, false, 0.1,
                                    bn.eps, false);
    at::Tensor got = at::conv2d(x, f.weight, f.bias, 1, 1, 1, 2);
    EXPECT_TRUE(at::allclose(got, ref, 1e-4, 1e-4)) << "bias " << with_bias;
    EXPECT_EQ(f.weight.scalar_type(), at::kFloat);
    EXPECT_EQ(f.bias.sizes(), (at::IntArrayRef{6}));
  }
}
