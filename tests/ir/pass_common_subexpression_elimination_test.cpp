// common_subexpression_elimination: identical op + attrs + inputs merge; params naming one tensor too.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ir/model.h"
#include "ir/passes/common_subexpression_elimination.h"
#include "ir/passes/pass_util.h"
#include "ir/pass_test_util.h"
#include "runtime/executor.h"

using namespace mc::ir;
using mc::ir::passes::common_subexpression_elimination;

using mc::ir::pass_test::count;
using mc::ir::pass_test::make;

TEST(CommonSubexpressionElimination, MergesDuplicateChains) {
  at::manual_seed(0);
  Model m = make(R"IR(
graph(%x: f32[2,3,6,6]) {
  %a = relu(%x)
  %b = relu(%x)
  %sa = max_pool2d[kernel=[2,2]](%a)
  %sb = max_pool2d[kernel=[2,2]](%b)
  %y = add(%sa, %sb)
  return(%y)
}
)IR", {});
  at::Tensor x = at::randn({2, 3, 6, 6});
  at::Tensor before = mc::runtime::Executor(m).run1(x);
  EXPECT_TRUE(common_subexpression_elimination(m));
  m.infer_shapes();
  m.verify();
  EXPECT_EQ(count(m, "relu"), 1);
  EXPECT_EQ(count(m, "max_pool2d"), 1);
  Node* add = m.graph.outputs()[0]->producer();
  EXPECT_EQ(add->input(0), add->input(1));
  EXPECT_EQ(add->input(0), m.graph.find_value("sa"));
  EXPECT_TRUE(at::equal(mc::runtime::Executor(m).run1(x), before));
  EXPECT_FALSE(common_subexpression_elimination(m));
}

TEST(CommonSubexpressionElimination, MergesParamNodesNamingTheSameTensor) {
  at::manual_seed(1);
  Model m = make(R"IR(
graph(%x: f32[1,3,6,6]) {
  %w1 = param[name="w"]() @conv_a
  %w2 = param[name="w"]() @conv_b
  %a = conv2d[padding=[1,1]](%x, %w1) @conv_a
  %b = conv2d[padding=[1,1]](%x, %w2) @conv_b
  %c = conv2d[padding=[0,0]](%x, %w2) @conv_c
  %y = add(%a, %b)
  return(%y, %c)
}
)IR", {{"w", at::randn({4, 3, 3, 3})}});
  at::Tensor x = at::randn({1, 3, 6, 6});
  auto before = mc::runtime::Executor(m).run({x});
  EXPECT_TRUE(common_subexpression_elimination(m));
  m.infer_shapes();
  m.verify();
  EXPECT_EQ(count(m, "param"), 1);
  EXPECT_EQ(count(m, "conv2d"), 2);  // padding differs: conv_c stays
  EXPECT_EQ(m.graph.find_value("a")->producer()->scope(), "conv_a");  // the first one survives
  auto after = mc::runtime::Executor(m).run({x});
  EXPECT_TRUE(at::equal(after[0], before[0]));
  EXPECT_TRUE(at::equal(after[1], before[1]));
}

TEST(CommonSubexpressionElimination, KeepsDifferentAttrsDifferentTensorsAndRandomOps) {
  const char* text = R"IR(
graph(%x: f32[2,4,5]) {
  %p = param[name="p"]()
  %q = param[name="q"]()
  %s1 = softmax[dim=1](%x)
  %s2 = softmax[dim=2](%x)
  %d1 = dropout[p=0.5](%x)
  %d2 = dropout[p=0.5](%x)
  %a = add(%s1, %s2)
  %b = add(%d1, %d2)
  %c = add(%a, %b)
  %e = add(%c, %p)
  %y = add(%e, %q)
  return(%y)
}
)IR";
  Model m = make(text, {{"p", at::randn({5})}, {"q", at::randn({5})}});
  const std::string before = m.graph.to_string();
  EXPECT_FALSE(common_subexpression_elimination(m));
  EXPECT_EQ(m.graph.to_string(), before);
}
