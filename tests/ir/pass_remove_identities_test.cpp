// remove_identities: identity, dropout, stochastic_depth, no-op reshape/flatten/permute go.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ir/model.h"
#include "ir/passes/pass_util.h"
#include "ir/passes/remove_identities.h"
#include "ir/pass_test_util.h"
#include "runtime/executor.h"

using namespace mc::ir;
using mc::ir::passes::remove_identities;

using mc::ir::pass_test::count;
using mc::ir::pass_test::make;

TEST(RemoveIdentities, RemovesPassThroughsAndRewiresTheGraphOutput) {
  at::manual_seed(0);
  Model m = make(R"IR(
graph(%x: f32[2,3,8,8]) {
  %w = param[name="conv.weight"]() @conv
  %c = conv2d[padding=[1,1]](%x, %w) @conv
  %d = dropout[p=0.5](%c) @drop
  %i = identity(%d)
  %r = relu(%i)
  %s = stochastic_depth[mode="row", p=0.2](%r)
  %y = identity(%s)
  return(%y)
}
)IR", {{"conv.weight", at::randn({4, 3, 3, 3})}});
  at::Tensor x = at::randn({2, 3, 8, 8});
  at::Tensor before = mc::runtime::Executor(m).run1(x);

  EXPECT_TRUE(remove_identities(m));
  m.infer_shapes();
  m.verify();
  EXPECT_EQ(m.graph.num_nodes(), 3u);
  EXPECT_EQ(count(m, "dropout") + count(m, "identity") + count(m, "stochastic_depth"), 0);
  Value* r = m.graph.find_value("r");
  EXPECT_EQ(m.graph.outputs()[0], r);                              // the output is relu's value now
  EXPECT_EQ(r->producer()->input(0), m.graph.find_value("c"));     // relu reads the conv
  EXPECT_TRUE(at::equal(mc::runtime::Executor(m).run1(x), before));
  EXPECT_FALSE(remove_identities(m));
}

TEST(RemoveIdentities, RemovesOnlyReshapesThatKeepTheShapeAtEveryBatchSize) {
  at::manual_seed(1);
  Model m = make(R"IR(
graph(%x: f32[1,2,8]) {
  %a = reshape[shape=[0,-1,8]](%x)
  %b = reshape[shape=[-1,2,8]](%a)
  %c = reshape[shape=[1,2,8]](%b)
  %d = reshape[shape=[1,-1,8]](%c)
  %e = reshape[shape=[0,4,4]](%d)
  %f = flatten[start_dim=2, end_dim=-1](%e)
  %g = permute[dims=[0,1,2]](%f)
  %h = permute[dims=[0,2,1]](%g)
  return(%h)
}
)IR", {});
  at::Tensor x = at::randn({1, 2, 8});
  at::Tensor before = mc::runtime::Executor(m).run1(x);
  EXPECT_TRUE(remove_identities(m));
  m.infer_shapes();
  m.verify();
  // a, b, c (literal batch, no -1), f and g go; d (batch 1 with a -1 elsewhere), e and h stay.
  EXPECT_EQ(count(m, "reshape"), 2);
  EXPECT_EQ(count(m, "flatten"), 0);
  EXPECT_EQ(count(m, "permute"), 1);
  EXPECT_EQ(m.graph.find_value("d")->producer()->input(0), m.graph.inputs()[0]);
  EXPECT_TRUE(at::equal(mc::runtime::Executor(m).run1(x), before));
}

TEST(RemoveIdentities, KeepsAPassThroughFromGraphInputToGraphOutput) {
  Model m = make("graph(%x: f32[2,3]) {\n %y = identity(%x)\n return(%y)\n}\n", {});
  EXPECT_FALSE(remove_identities(m));
  EXPECT_EQ(m.graph.num_nodes(), 1u);
}

TEST(RemoveIdentities, LeavesRealOpsAlone) {
  const char* text = R"IR(
graph(%x: f32[2,3,4]) {
  %a = reshape[shape=[0,4,3]](%x)
  %b = flatten[start_dim=1](%a)
  %c = relu(%b)
  return(%c)
}
)IR";
  Model m = make(text, {});
  const std::string before = m.graph.to_string();
  EXPECT_FALSE(remove_identities(m));
  EXPECT_EQ(m.graph.to_string(), before);
}

TEST(RemoveIdentities, IdentityReshapeRule) {
  using passes::is_identity_reshape;
  EXPECT_TRUE(is_identity_reshape({2, 3, 4}, {0, 3, 4}));
  EXPECT_TRUE(is_identity_reshape({2, 3, 4}, {-1, 3, 4}));
  EXPECT_TRUE(is_identity_reshape({2, 3, 4}, {0, -1, 4}));
  EXPECT_TRUE(is_identity_reshape({2, 3, 4}, {2, 3, 4}));
  EXPECT_TRUE(is_identity_reshape({2, 3, 4}, {0, 0, 0}));
  EXPECT_FALSE(is_identity_reshape({2, 3, 4}, {2, -1, 4}));  // batch 4 would give [2,6,4]
  EXPECT_FALSE(is_identity_reshape({2, 3, 4}, {0, 4, 3}));
  EXPECT_FALSE(is_identity_reshape({2, 3, 4}, {0, 12}));
  EXPECT_FALSE(is_identity_reshape({2, 12}, {0, 3, 4}));
}
