// constant_folding: subgraphs over `constant` nodes collapse into one constant; params stay.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ir/model.h"
#include "ir/passes/constant_folding.h"
#include "ir/passes/pass_util.h"
#include "ir/pass_test_util.h"
#include "runtime/executor.h"

using namespace mc::ir;
using mc::ir::passes::constant_folding;

using mc::ir::pass_test::count;
using mc::ir::pass_test::make;

namespace {
void expect_valid(Model& m) {
  m.infer_shapes();
  m.verify();
}
}  // namespace

TEST(ConstantFolding, CollapsesAConstantChainIntoOneConstant) {
  at::manual_seed(0);
  Model m = make(R"IR(
graph(%x: f32[2,4,5,5]) {
  %s = constant[name="s"]() @scale
  %t = constant[name="t"]() @scale
  %a = add(%s, %t) @scale
  %r = reshape[shape=[4,1,1]](%a) @scale
  %e = sigmoid(%r) @scale
  %y = mul(%x, %e)
  return(%y)
}
)IR", {{"s", at::randn({4})}, {"t", at::randn({4})}});
  at::Tensor x = at::randn({2, 4, 5, 5});
  at::Tensor before = mc::runtime::Executor(m).run1(x);

  EXPECT_TRUE(constant_folding(m));
  expect_valid(m);
  EXPECT_EQ(count(m, "add"), 0);
  EXPECT_EQ(count(m, "reshape"), 0);
  EXPECT_EQ(count(m, "sigmoid"), 0);
  EXPECT_EQ(count(m, "constant"), 1);
  EXPECT_EQ(count(m, "mul"), 1);
  // The inputs of the folded chain are gone from the graph and the store.
  EXPECT_EQ(m.tensors.count("s"), 0u);
  EXPECT_EQ(m.tensors.count("t"), 0u);
  Node* c = m.graph.outputs()[0]->producer()->input(1)->producer();
  ASSERT_EQ(c->op(), "constant");
  EXPECT_EQ(c->scope(), "scale");
  EXPECT_EQ(m.tensor(c->attrs().s("name")).sizes(), (at::IntArrayRef{4, 1, 1}));
  EXPECT_TRUE(at::allclose(mc::runtime::Executor(m).run1(x), before));
  EXPECT_FALSE(constant_folding(m));
}

TEST(ConstantFolding, LeavesParamSubgraphsAndMixedInputsAlone) {
  const char* text = R"IR(
graph(%x: f32[2,4,5,5]) {
  %p = param[name="p"]()
  %c = constant[name="c"]()
  %r = reshape[shape=[4,1,1]](%p)
  %m = add(%p, %c)
  %q = reshape[shape=[4,1,1]](%m)
  %y = mul(%x, %r)
  %z = add(%y, %q)
  return(%z)
}
)IR";
  Model m = make(text, {{"p", at::randn({4})}, {"c", at::randn({4})}});
  const std::string before = m.graph.to_string();
  EXPECT_FALSE(constant_folding(m));
  EXPECT_EQ(m.graph.to_string(), before);
  EXPECT_EQ(m.tensors.size(), 2u);
}

TEST(ConstantFolding, SkipsRandomOpsAndGraphInputs) {
  const char* text = R"IR(
graph(%x: f32[4]) {
  %c = constant[name="c"]()
  %d = dropout[p=0.5](%c)
  %s = stochastic_depth[p=0.2](%c)
  %a = add(%x, %c)
  %y = add(%a, %d)
  %z = add(%y, %s)
  return(%z)
}
)IR";
  Model m = make(text, {{"c", at::randn({4})}});
  EXPECT_FALSE(constant_folding(m));
  EXPECT_EQ(count(m, "dropout"), 1);
  EXPECT_EQ(count(m, "stochastic_depth"), 1);
}

TEST(ConstantFolding, FoldsEveryOutputOfASplitAndAGraphOutput) {
  at::manual_seed(1);
  Model m = make(R"IR(
graph(%x: f32[2,3]) {
  %c = constant[name="c"]()
  %a, %b = split[dim=0, sizes=[1,2]](%c)
  %y = add(%x, %b)
  %k = relu(%a)
  return(%y, %k)
}
)IR", {{"c", at::randn({3, 3})}});
  at::Tensor x = at::randn({2, 3});
  auto before = mc::runtime::Executor(m).run({x});
  EXPECT_TRUE(constant_folding(m));
  expect_valid(m);
  EXPECT_EQ(count(m, "split"), 0);
  EXPECT_EQ(count(m, "relu"), 0);
  EXPECT_EQ(count(m, "constant"), 2);
  EXPECT_EQ(m.graph.outputs()[1]->producer()->op(), "constant");
  auto after = mc::runtime::Executor(m).run({x});
  EXPECT_TRUE(at::equal(after[0], before[0]));
  EXPECT_TRUE(at::equal(after[1], before[1]));
}

TEST(ConstantFolding, EvaluateNodeNeverAliasesItsInputs) {
  Graph g = Graph::parse("graph(%x: f32[4]) {\n %y = reshape[shape=[2,2]](%x)\n return(%y)\n}\n");
  at::Tensor x = at::arange(4, at::kFloat);
  auto out = passes::evaluate_node(*g.outputs()[0]->producer(), {x});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(at::equal(out[0], x.reshape({2, 2})));
  EXPECT_NE(out[0].data_ptr(), x.data_ptr());
}
