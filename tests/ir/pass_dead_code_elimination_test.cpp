// dead_code_elimination: nodes that reach no graph output go, with the tensors only they used.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ir/model.h"
#include "ir/passes/dead_code_elimination.h"
#include "ir/passes/pass_util.h"
#include "ir/pass_test_util.h"
#include "runtime/executor.h"

using namespace mc::ir;
using mc::ir::passes::dead_code_elimination;

using mc::ir::pass_test::count;
using mc::ir::pass_test::make;

TEST(DeadCodeElimination, RemovesUnreachableNodesAndTheirTensors) {
  at::manual_seed(0);
  Model m = make(R"IR(
graph(%x: f32[2,3,8,8]) {
  %w = param[name="conv.weight"]() @conv
  %c = conv2d[padding=[1,1]](%x, %w) @conv
  %s = sigmoid(%x)
  %w2 = param[name="unused.weight"]() @unused
  %f = flatten[start_dim=1](%s)
  %l = linear(%f, %w2) @unused
  %y = relu(%c)
  return(%y)
}
)IR", {{"conv.weight", at::randn({4, 3, 3, 3})}, {"unused.weight", at::randn({5, 192})}, {"orphan", at::randn({3})}});
  at::Tensor x = at::randn({2, 3, 8, 8});
  at::Tensor before = mc::runtime::Executor(m).run1(x);

  EXPECT_TRUE(dead_code_elimination(m));
  m.infer_shapes();
  m.verify();
  EXPECT_EQ(m.graph.num_nodes(), 3u);
  EXPECT_EQ(count(m, "sigmoid"), 0);
  EXPECT_EQ(count(m, "linear"), 0);
  EXPECT_EQ(count(m, "param"), 1);
  EXPECT_EQ(m.tensors.count("unused.weight"), 0u);
  EXPECT_EQ(m.tensors.count("orphan"), 0u);
  EXPECT_EQ(m.tensors.count("conv.weight"), 1u);
  EXPECT_TRUE(at::equal(mc::runtime::Executor(m).run1(x), before));
  EXPECT_FALSE(dead_code_elimination(m));  // idempotent
}

TEST(DeadCodeElimination, KeepsMultiOutputNodeWhileOneOutputIsLive) {
  Model m = make(R"IR(
graph(%x: f32[2,4]) {
  %a, %b = split[dim=1, sizes=[1,3]](%x)
  %y = relu(%a)
  %z = tanh(%b)
  return(%y)
}
)IR", {});
  EXPECT_TRUE(dead_code_elimination(m));
  m.verify();
  EXPECT_EQ(count(m, "split"), 1);
  EXPECT_EQ(count(m, "tanh"), 0);
  EXPECT_EQ(m.graph.outputs()[0]->producer()->op(), "relu");
}

TEST(DeadCodeElimination, LeavesALiveGraphUnchanged) {
  const char* text = R"IR(
graph(%x: f32[2,4]) {
  %a, %b = split[dim=1, sizes=[1,3]](%x)
  %y = relu(%a)
  return(%y, %b)
}
)IR";
  Model m = make(text, {});
  const std::string before = m.graph.to_string();
  EXPECT_FALSE(dead_code_elimination(m));
  EXPECT_EQ(m.graph.to_string(), before);
}
