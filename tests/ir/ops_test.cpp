// Every core op: shape inference agrees with what its kernel produces, on real tensors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ir/model.h"
#include "ir/op_registry.h"
#include "runtime/executor.h"

using namespace mc::ir;

namespace {
struct Case {
  const char* name;
  const char* body;  // statements using %x: f32[2,4,9,9] and params w4 (4x4x3x3), wg (4x1x3x3), l (5x81), c4 (4)
};

const Case kCases[] = {
    {"conv2d", "%y = conv2d[padding=[1,1], stride=[2,2]](%x, %w4)"},
    {"conv2d_groups_dilation", "%y = conv2d[dilation=[2,2], groups=4, padding=[2,2]](%x, %wg, %c4)"},
    {"pad_reflect", "%y = pad[mode=\"reflect\", pads=[1,2,3,0]](%x)"},
    {"pad_constant", "%y = pad[pads=[1,1,1,1], value=2.5](%x)"},
    {"linear", "%f = flatten[start_dim=2](%x)\n %y = linear(%f, %l)"},
    {"matmul", "%y = matmul(%x, %x)"},
    {"batch_norm", "%y = batch_norm[eps=0.001](%x, %c4, %c4, %c4, %c4)"},
    {"layer_norm", "%y = layer_norm[normalized_shape=[9,9]](%x)"},
    {"softmax", "%y = softmax[dim=1](%x)"},
    {"gelu", "%y = gelu[approximate=\"tanh\"](%x)"},
    {"add_broadcast", "%r = reshape[shape=[4,1,1]](%c4)\n %y = add(%x, %r)"},
    {"div", "%y = div(%x, %x)"},
    {"cat", "%y = cat[dim=1](%x, %x, %x)"},
    {"reshape_keep_batch", "%y = reshape[shape=[0,-1,3]](%x)"},
    {"permute", "%y = permute[dims=[0,2,3,1]](%x)"},
    {"transpose", "%y = transpose[dim0=1, dim1=3](%x)"},
    {"split", "%y, %z = split[dim=1, sizes=[1,3]](%x)"},
    {"unsqueeze_squeeze", "%u = unsqueeze[dim=2](%x)\n %y = squeeze[dims=[2]](%u)"},
    {"max_pool_ceil", "%y = max_pool2d[ceil_mode=1, kernel=[3,3], stride=[2,2]](%x)"},
    {"avg_pool", "%y = avg_pool2d[count_include_pad=0, kernel=[3,3], padding=[1,1], stride=[2,2]](%x)"},
    {"adaptive_avg", "%y = adaptive_avg_pool2d[output_size=[2,3]](%x)"},
    {"adaptive_max", "%y = adaptive_max_pool2d[output_size=[1,1]](%x)"},
    {"mean", "%y = mean[dims=[2,3], keepdim=1](%x)"},
    {"unary_chain", "%a = relu(%x)\n %b = hardswish(%a)\n %c = hardsigmoid(%b)\n %d = silu(%c)\n %e = tanh(%d)\n %f = sigmoid(%e)\n %y = hardtanh[max_val=6.0, min_val=0.0](%f)"},
};

Model make(const Case& c) {
  std::string text = std::string("graph(%x: f32[2,4,9,9]) {\n %w4 = param[name=\"w4\"]()\n %wg = param[name=\"wg\"]()\n") +
                     " %l = param[name=\"l\"]()\n %c4 = constant[name=\"c4\"]()\n " + c.body + "\n return(%y)\n}\n";
  Model m;
  m.graph = Graph::parse(text, c.name);
  m.tensors["w4"] = at::randn({4, 4, 3, 3});
  m.tensors["wg"] = at::randn({4, 1, 3, 3});
  m.tensors["l"] = at::randn({5, 81});
  m.tensors["c4"] = at::rand({4}) + 0.5;
  m.drop_unused_tensors();
  return m;
}
}  // namespace

class OpCase : public ::testing::TestWithParam<Case> {};

TEST_P(OpCase, InferredShapeMatchesKernelAtTwoBatchSizes) {
  Model m = make(GetParam());
  m.infer_shapes();
  m.verify();
  mc::runtime::Executor ex(m);
  at::Tensor x = at::randn({2, 4, 9, 9});
  at::Tensor y = ex.run1(x);
  EXPECT_EQ(Shape(y.sizes().begin(), y.sizes().end()), m.graph.outputs()[0]->shape());
  EXPECT_TRUE(y.isfinite().all().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(Core, OpCase, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Ops, KernelsComputeTheRightThing) {
  Model m = make({"x", "%a = conv2d[padding=[1,1]](%x, %w4)\n %b = batch_norm[eps=0.001](%a, %c4, %c4, %c4, %c4)\n %y = hardtanh[max_val=6.0, min_val=0.0](%b)"});
  m.infer_shapes();
  mc::runtime::Executor ex(m);
  at::Tensor x = at::randn({2, 4, 9, 9});
  at::Tensor c4 = m.tensors["c4"];
  at::Tensor ref = at::conv2d(x, m.tensors["w4"], {}, 1, 1);
  ref = (ref - c4.view({1, 4, 1, 1})) / at::sqrt(c4.view({1, 4, 1, 1}) + 0.001) * c4.view({1, 4, 1, 1}) + c4.view({1, 4, 1, 1});
  ref = ref.clamp(0, 6);
  EXPECT_TRUE(at::allclose(ex.run1(x), ref, 1e-5, 1e-5));
}

TEST(Ops, ReshapeZeroKeepsDynamicBatch) {
  Model m = make({"x", "%y = reshape[shape=[0,-1]](%x)"});
  m.infer_shapes();
  mc::runtime::Executor ex(m);
  EXPECT_EQ(ex.run1(at::randn({5, 4, 9, 9})).sizes(), (at::IntArrayRef{5, 324}));
}

TEST(Ops, MacCounts) {
  Model m = make({"x", "%f = flatten[start_dim=2](%x)\n %y = linear(%f, %l)"});
  m.infer_shapes();
  Node* lin = m.graph.outputs()[0]->producer();
  EXPECT_EQ(node_macs(*lin), 2 * 4 * 5 * 81);
  EXPECT_EQ(node_macs(*m.graph.find_value("f")->producer()), 0);
}

TEST(Ops, EveryRegisteredOpHasKernelAndDoc) {
  register_core_ops();
  for (auto& name : OpRegistry::instance().names()) {
    const OpDef* d = OpRegistry::instance().find(name);
    EXPECT_TRUE(static_cast<bool>(d->kernel)) << name;
    if (name != "param" && name != "constant") EXPECT_TRUE(static_cast<bool>(d->shape)) << name;
  }
}
