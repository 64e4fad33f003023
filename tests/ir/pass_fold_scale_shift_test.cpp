// fold_scale_shift: per-channel mul/div/add/sub right after a conv2d/linear folds into its weights.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ir/model.h"
#include "ir/passes/fold_scale_shift.h"
#include "ir/passes/pass_util.h"
#include "ir/pass_test_util.h"
#include "runtime/executor.h"

using namespace mc::ir;
using mc::ir::passes::fold_scale_shift;

using mc::ir::pass_test::count;
using mc::ir::pass_test::make;

namespace {
void fold_and_compare(Model& m, const std::vector<int64_t>& input_shape) {
  at::Tensor x = at::randn(input_shape);
  at::Tensor before = mc::runtime::Executor(m).run1(x);
  ASSERT_TRUE(fold_scale_shift(m));
  m.infer_shapes();
  m.verify();
  at::Tensor after = mc::runtime::Executor(m).run1(x);
  EXPECT_TRUE(at::allclose(after, before, 1e-4, 1e-5)) << (after - before).abs().max().item<float>();
  EXPECT_FALSE(fold_scale_shift(m));
}
void expect_unchanged(Model& m) {
  const std::string before = m.graph.to_string();
  const size_t tensors = m.tensors.size();
  EXPECT_FALSE(fold_scale_shift(m));
  EXPECT_EQ(m.graph.to_string(), before);
  EXPECT_EQ(m.tensors.size(), tensors);
}
}  // namespace

TEST(FoldScaleShift, MulThenAddFoldIntoABiaslessConv) {
  at::manual_seed(0);
  Model m = make(R"IR(
graph(%x: f32[2,3,8,8]) {
  %w = param[name="conv.weight"]() @conv
  %c = conv2d[padding=[1,1]](%x, %w) @conv
  %s = param[name="scale"]() @affine
  %t = constant[name="shift"]() @affine
  %m = mul(%c, %s) @affine
  %a = add(%t, %m) @affine
  %y = relu(%a)
  return(%y)
}
)IR", {{"conv.weight", at::randn({5, 3, 3, 3})}, {"scale", at::randn({5, 1, 1})}, {"shift", at::randn({1, 5, 1, 1})}});
  fold_and_compare(m, {2, 3, 8, 8});
  EXPECT_EQ(count(m, "mul"), 0);
  EXPECT_EQ(count(m, "add"), 0);
  Node* conv = m.graph.outputs()[0]->producer()->input(0)->producer();
  ASSERT_EQ(conv->op(), "conv2d");
  ASSERT_EQ(conv->inputs().size(), 3u);
  EXPECT_EQ(m.param_names(), (std::vector<std::string>{"conv.weight", "conv.bias"}));
  EXPECT_EQ(m.tensors.count("scale") + m.tensors.count("shift"), 0u);
}

TEST(FoldScaleShift, ScalarMulDivAndSubOnAConvWithBias) {
  at::manual_seed(1);
  Model m = make(R"IR(
graph(%x: f32[2,4,6,6]) {
  %w = param[name="conv.weight"]() @conv
  %b = param[name="conv.bias"]() @conv
  %c = conv2d[groups=4, padding=[1,1]](%x, %w, %b) @conv
  %k = constant[name="k"]()
  %d = constant[name="d"]()
  %t = param[name="t"]()
  %m = mul(%k, %c)
  %q = div(%m, %d)
  %y = sub(%q, %t)
  return(%y)
}
)IR", {{"conv.weight", at::randn({4, 1, 3, 3})}, {"conv.bias", at::randn({4})}, {"k", at::full({}, 2.5)},
       {"d", at::rand({1, 4, 1, 1}) + 0.5}, {"t", at::randn({4, 1, 1})}});
  fold_and_compare(m, {2, 4, 6, 6});
  EXPECT_EQ(m.graph.num_nodes(), 3u);  // weight, bias, conv
  EXPECT_EQ(m.param_names(), (std::vector<std::string>{"conv.weight", "conv.bias"}));
}

TEST(FoldScaleShift, ScaleBehindAReshapeOfAParam) {
  at::manual_seed(2);
  Model m = make(R"IR(
graph(%x: f32[2,3,5,5]) {
  %w = param[name="conv.weight"]() @conv
  %c = conv2d(%x, %w) @conv
  %s = param[name="scale"]()
  %r = reshape[shape=[1,-1,1,1]](%s)
  %y = mul(%c, %r)
  return(%y)
}
)IR", {{"conv.weight", at::randn({6, 3, 1, 1})}, {"scale", at::randn({6})}});
  fold_and_compare(m, {2, 3, 5, 5});
  EXPECT_EQ(count(m, "reshape"), 0);
  EXPECT_EQ(m.tensors.count("scale"), 0u);
  EXPECT_EQ(m.graph.outputs()[0]->producer()->op(), "conv2d");
}

TEST(FoldScaleShift, LinearFeatures) {
  at::manual_seed(3);
  Model m = make(R"IR(
graph(%x: f32[4,10]) {
  %w = param[name="fc.weight"]() @fc
  %b = param[name="fc.bias"]() @fc
  %l = linear(%x, %w, %b) @fc
  %s = constant[name="s"]()
  %t = constant[name="t"]()
  %m = mul(%l, %s)
  %y = add(%m, %t)
  return(%y)
}
)IR", {{"fc.weight", at::randn({7, 10})}, {"fc.bias", at::randn({7})}, {"s", at::randn({7})}, {"t", at::randn({1, 7})}});
  fold_and_compare(m, {4, 10});
  EXPECT_EQ(m.graph.outputs()[0]->producer()->op(), "linear");
}

TEST(FoldScaleShift, SharedScaleTensorStaysForItsOtherUser) {
  at::manual_seed(4);
  Model m = make(R"IR(
graph(%x: f32[2,3,5,5]) {
  %w = param[name="conv.weight"]() @conv
  %c = conv2d(%x, %w) @conv
  %s = param[name="scale"]()
  %y = mul(%c, %s)
  %z = mul(%x, %s)
  return(%y, %z)
}
)IR", {{"conv.weight", at::randn({3, 3, 1, 1})}, {"scale", at::randn({3, 1, 1})}});
  at::Tensor x = at::randn({2, 3, 5, 5});
  auto before = mc::runtime::Executor(m).run({x});
  EXPECT_TRUE(fold_scale_shift(m));
  m.infer_shapes();
  m.verify();
  EXPECT_EQ(count(m, "mul"), 1);
  EXPECT_EQ(m.tensors.count("scale"), 1u);
  auto after = mc::runtime::Executor(m).run({x});
  EXPECT_TRUE(at::allclose(after[0], before[0], 1e-4, 1e-5));
  EXPECT_TRUE(at::equal(after[1], before[1]));
}

TEST(FoldScaleShift, LeavesMulByANonConstant) {
  Model m = make(R"IR(
graph(%x: f32[2,3,5,5], %g: f32[1,4,1,1]) {
  %w = param[name="conv.weight"]() @conv
  %c = conv2d(%x, %w) @conv
  %y = mul(%c, %g)
  return(%y)
}
)IR", {{"conv.weight", at::randn({4, 3, 1, 1})}});
  expect_unchanged(m);
}

TEST(FoldScaleShift, LeavesNonChannelShapesAndSecondUsers) {
  Model m = make(R"IR(
graph(%x: f32[2,3,5,5]) {
  %w = param[name="conv.weight"]() @conv
  %c = conv2d(%x, %w) @conv
  %c2 = conv2d(%x, %w) @conv2
  %c3 = conv2d(%x, %w) @conv3
  %c4 = conv2d(%x, %w) @conv4
  %sp = constant[name="spatial"]()
  %wide = constant[name="wide"]()
  %s = constant[name="s"]()
  %a = mul(%c, %sp)
  %b = add(%c2, %wide)
  %d = mul(%c3, %s)
  %e = add(%d, %c3)
  %f = sub(%s, %c4)
  return(%a, %b, %e, %f)
}
)IR", {{"conv.weight", at::randn({3, 3, 1, 1})},
       {"spatial", at::randn({1, 1, 5, 5})},   // varies over H, W
       {"wide", at::randn({2, 3, 1, 1})},      // varies over the batch
       {"s", at::randn({3, 1, 1})}});          // c3 has two users; sub(s, c4) negates the conv
  expect_unchanged(m);
}

TEST(FoldScaleShift, PerChannelVectorRule) {
  using passes::per_channel_vector;
  const at::Tensor v = at::arange(4, at::kFloat);
  EXPECT_TRUE(at::equal(per_channel_vector(v.view({4, 1, 1}), 4, 1, 4), v));
  EXPECT_TRUE(at::equal(per_channel_vector(v.view({1, 4, 1, 1}), 4, 1, 4), v));
  EXPECT_TRUE(at::equal(per_channel_vector(at::full({}, 3.0), 4, 1, 4), at::full({4}, 3.0)));
  EXPECT_TRUE(at::equal(per_channel_vector(at::full({1, 1, 1}, 3.0), 4, 1, 4), at::full({4}, 3.0)));
  EXPECT_TRUE(at::equal(per_channel_vector(v, 2, 1, 4), v));  // linear: [C] against [N, C]
  EXPECT_FALSE(per_channel_vector(v, 4, 1, 4).defined());     // [C] aligns with W, not C
  EXPECT_FALSE(per_channel_vector(v.view({4, 1, 1, 1}), 4, 1, 4).defined());
  EXPECT_FALSE(per_channel_vector(v.view({1, 1, 4, 1, 1}), 4, 1, 4).defined());
  EXPECT_FALSE(per_channel_vector(v.view({2, 2, 1}), 4, 1, 4).defined());
}

TEST(FoldScaleShift, FoldedWeightsMatchTheElementwiseOp) {
  at::manual_seed(5);
  at::Tensor x = at::randn({2, 3, 6, 6});
  at::Tensor w = at::randn({5, 3, 3, 3});
  at::Tensor b = at::randn({5});
  at::Tensor v = at::rand({5}) + 0.5;
  at::Tensor h = at::conv2d(x, w, b);
  const at::Tensor vv = v.view({1, 5, 1, 1});
  const std::pair<const char*, at::Tensor> cases[] = {
      {"mul", h * vv}, {"div", h / vv}, {"add", h + vv}, {"sub", h - vv}};
  for (auto& [op, ref] : cases) {
    passes::LayerWeights f = passes::fold_scale_shift_weights(w, b, op, v);
    EXPECT_TRUE(at::allclose(at::conv2d(x, f.weight, f.bias), ref, 1e-4, 1e-5)) << op;
  }
  passes::LayerWeights nb = passes::fold_scale_shift_weights(w, at::Tensor(), "mul", v);
  EXPECT_FALSE(nb.bias.defined());
  passes::LayerWeights sh = passes::fold_scale_shift_weights(w, at::Tensor(), "add", v);
  EXPECT_TRUE(at::equal(sh.bias, v));
}
