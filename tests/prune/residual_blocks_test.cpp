// Depth pruning on tiny IR graphs: which adds are removable residual blocks (identity shortcut,
// branch computed from the skip alone, nothing escaping the branch), and that removing a block
// whose branch outputs zeros leaves the model's outputs unchanged while a live branch changes them.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "channel_test_util.h"
#include "common/error.h"
#include "pruning/channel_prune.h"
#include "pruning/residual_blocks.h"
#include "runtime/executor.h"

using namespace mc;

namespace {

// stem conv -> relu -> identity block "a" (conv-relu-conv, add, relu) -> projection block "b"
// (stride-2 conv branch + 1x1 stride-2 downsample, add, relu) -> pool -> fc.
const char* kNet = R"IR(
graph(%x: f32[2,3,8,8]) {
  %w0 = param[name="stem.weight"]() @stem
  %s = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%x, %w0) @stem
  %s1 = relu(%s) @stem_relu
  %wa1 = param[name="a.conv1.weight"]() @a.conv1
  %a1 = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%s1, %wa1) @a.conv1
  %a2 = relu(%a1) @a.relu
  %wa2 = param[name="a.conv2.weight"]() @a.conv2
  %ba2 = param[name="a.conv2.bias"]() @a.conv2
  %a3 = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%a2, %wa2, %ba2) @a.conv2
  %a4 = add(%a3, %s1) @a
  %a5 = relu(%a4) @a.relu
  %wb1 = param[name="b.conv1.weight"]() @b.conv1
  %b1 = conv2d[stride=[2,2], padding=[1,1], dilation=[1,1], groups=1](%a5, %wb1) @b.conv1
  %wbd = param[name="b.down.weight"]() @b.down
  %bd = conv2d[stride=[2,2], padding=[0,0], dilation=[1,1], groups=1](%a5, %wbd) @b.down
  %b2 = add(%b1, %bd) @b
  %b3 = relu(%b2) @b.relu
  %p = adaptive_avg_pool2d[output_size=[1,1]](%b3) @pool
  %f = flatten[start_dim=1](%p) @flatten
  %wf = param[name="fc.weight"]() @fc
  %y = linear(%f, %wf) @fc
  return(%y)
}
)IR";

const std::map<std::string, std::vector<int64_t>> kShapes = {
    {"stem.weight", {4, 3, 3, 3}}, {"a.conv1.weight", {4, 4, 3, 3}}, {"a.conv2.weight", {4, 4, 3, 3}},
    {"a.conv2.bias", {4}},         {"b.conv1.weight", {6, 4, 3, 3}}, {"b.down.weight", {6, 4, 1, 1}},
    {"fc.weight", {5, 6}}};

int64_t count_op(const ir::Model& m, const std::string& op) {
  int64_t n = 0;
  for (const ir::Node* node : m.graph.nodes()) n += node->op() == op;
  return n;
}

}  // namespace

TEST(ResidualBlocks, OnlyTheIdentityShortcutBlockIsACandidate) {
  ir::Model m = prune::test::tiny_model(kNet, kShapes);
  auto blocks = prune::find_residual_blocks(m);
  ASSERT_EQ(blocks.size(), 1u);  // "b" has a projection shortcut (other shape): not removable
  EXPECT_EQ(blocks[0].scope, "a");
  EXPECT_EQ(blocks[0].skip_value, "s1");
  EXPECT_EQ(blocks[0].nodes, 3);  // conv, relu, conv
  EXPECT_EQ(blocks[0].params, 2 * 4 * 4 * 9 + 4);
  EXPECT_EQ(blocks[0].macs, 2 * (2 * 8 * 8 * 4 * 4 * 9));  // batch 2 x two 4->4 3x3 convs at 8x8
}

TEST(ResidualBlocks, RemovingAZeroBranchKeepsOutputsAndALiveBranchChangesThem) {
  ir::Model m = prune::test::tiny_model(kNet, kShapes);
  at::manual_seed(1);
  const at::Tensor x = at::randn({2, 3, 8, 8});
  const auto blocks = prune::find_residual_blocks(m);
  ASSERT_EQ(blocks.size(), 1u);

  ir::Model live = m.clone();
  prune::remove_residual_block(live, blocks[0]);
  EXPECT_FALSE(at::allclose(runtime::Executor(live).run1(x), runtime::Executor(m).run1(x), 1e-4, 1e-4))
      << "the live branch contributes: removing it must change the outputs (else the next check is vacuous)";

  // relu(0 + relu(s)) == relu(s): with the branch's last conv zeroed the block is an identity.
  m.tensors.at("a.conv2.weight").zero_();
  m.tensors.at("a.conv2.bias").zero_();
  const at::Tensor ref = runtime::Executor(m).run1(x);
  ir::Model p = m.clone();
  prune::remove_residual_block(p, blocks[0]);
  const at::Tensor got = runtime::Executor(p).run1(x);
  EXPECT_TRUE(at::allclose(got, ref, 1e-6, 1e-6)) << (got - ref).abs().max().item<double>();
  EXPECT_EQ(prune::model_macs(p), prune::model_macs(m) - blocks[0].macs);
  EXPECT_EQ(p.num_params(), m.num_params() - blocks[0].params);
  EXPECT_EQ(p.tensors.count("a.conv1.weight"), 0u);  // the branch's tensors went with it
  EXPECT_EQ(count_op(p, "add"), 1);
  EXPECT_EQ(count_op(p, "relu"), count_op(m, "relu") - 2);  // the branch's relu and the now-idempotent one
  EXPECT_TRUE(prune::find_residual_blocks(p).empty());
  EXPECT_THROW(prune::remove_residual_block(p, blocks[0]), mc::RuntimeFailure);
}

TEST(ResidualBlocks, ABranchWhoseValueIsReadOutsideIsNotRemovable) {
  // The block's inner activation %a2 also feeds the output: removing the branch would break it.
  std::string text = kNet;
  text.replace(text.find("  return(%y)"), std::string("  return(%y)").size(), "  return(%y, %a2)");
  ir::Model m = prune::test::tiny_model(text, kShapes);
  EXPECT_TRUE(prune::find_residual_blocks(m).empty());
  // A branch that also reads a value computed outside it (the stem's pre-relu output, itself computed
  // from the graph input) is not a function of the skip alone.
  std::string two = kNet;
  two.replace(two.find("%a2 = relu(%a1)"), std::string("%a2 = relu(%a1)").size(), "%a2 = add(%a1, %s)");
  ir::Model m2 = prune::test::tiny_model(two, kShapes);
  auto blocks = prune::find_residual_blocks(m2);
  EXPECT_TRUE(blocks.empty()) << blocks[0].scope;
}
