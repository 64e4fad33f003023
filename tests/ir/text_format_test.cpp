#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "ir/model.h"
#include "ir/op_registry.h"

using namespace mc::ir;

namespace {
const char* kConvNet = R"IR(
graph(%x: f32[2,3,8,8]) {
  %w: f32[4,3,3,3] = param[name="conv.weight"]() @conv
  %b: f32[4] = param[name="conv.bias"]() @conv
  %c: f32[2,4,8,8] = conv2d[dilation=[1,1], groups=1, padding=[1,1], stride=[1,1]](%x, %w, %b) @conv
  %r: f32[2,4,8,8] = relu(%c) @act
  %p: f32[2,4,1,1] = adaptive_avg_pool2d[output_size=[1,1]](%r) @pool
  %f: f32[2,4] = flatten[start_dim=1](%p)
  %s0: f32[2,1], %s1: f32[2,3] = split[dim=1, sizes=[1,3]](%f)
  %m: f32[2,3] = mul(%s1, %s0)
  %h: f32[2,3] = hardtanh[max_val=6.0, min_val=0.0](%m) @"odd scope"
  return(%h, %s0)
}
)IR";
}  // namespace

TEST(TextFormat, RoundTripsExactly) {
  Graph g = Graph::parse(kConvNet);
  std::string once = g.to_string();
  Graph g2 = Graph::parse(once);
  EXPECT_EQ(g2.to_string(), once);
  EXPECT_EQ(g.num_nodes(), 9u);
  EXPECT_EQ(g.outputs().size(), 2u);
  Node* split = g.find_value("s0")->producer();
  ASSERT_NE(split, nullptr);
  EXPECT_EQ(split->op(), "split");
  EXPECT_EQ(split->outputs().size(), 2u);
  EXPECT_EQ(split->attrs().is("sizes"), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(g.find_value("c")->producer()->scope(), "conv");
}

TEST(TextFormat, AttributeTypesSurvive) {
  Graph g = Graph::parse(R"(graph(%x: f32[1,4]) {
    %y = hardtanh[max_val=6.0, min_val=-0.1](%x)
    %z = leaky_relu[negative_slope=1e-20](%y)
    %s = reshape[shape=[0,-1]](%z)
    return(%s)
  })");
  Graph g2 = Graph::parse(g.to_string());
  auto nodes = g2.nodes();
  EXPECT_DOUBLE_EQ(nodes[0]->attrs().f("max_val"), 6.0);
  EXPECT_TRUE(std::holds_alternative<double>(nodes[0]->attrs().all().at("max_val")));
  EXPECT_DOUBLE_EQ(nodes[0]->attrs().f("min_val"), -0.1);
  EXPECT_DOUBLE_EQ(nodes[1]->attrs().f("negative_slope"), 1e-20);
  EXPECT_EQ(nodes[2]->attrs().is("shape"), (std::vector<int64_t>{0, -1}));
}

TEST(TextFormat, ParseErrorsCarryLineAndColumn) {
  try {
    Graph::parse("graph(%x: f32[1]) {\n  %y = relu(%nope)\n  return(%y)\n}\n", "net.ir");
    FAIL() << "expected an error";
  } catch (const mc::InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("net.ir:2:"), std::string::npos) << m;
    EXPECT_NE(m.find("nope"), std::string::npos) << m;
  }
  EXPECT_THROW(Graph::parse("graph(%x: f32[1]) {\n %x = relu(%x)\n return(%x)\n}"), mc::InputError);  // not SSA
  EXPECT_THROW(Graph::parse("graph(%x: q32[1]) { return(%x) }"), mc::InputError);                    // dtype
  EXPECT_THROW(Graph::parse("graph(%x: f32[1]) { return(%x) } trailing"), mc::InputError);
  // A sign without digits or a dimension beyond int64 (std::stoll threw invalid_argument / out_of_range).
  EXPECT_THROW(Graph::parse("graph(%x: f32[2,+]) { return(%x) }"), mc::InputError);
  EXPECT_THROW(Graph::parse("graph(%x: f32[-]) { return(%x) }"), mc::InputError);
  EXPECT_THROW(Graph::parse("graph(%x: f32[99999999999999999999]) { return(%x) }"), mc::InputError);
}

TEST(Model, ShapeInferenceFillsTypesFromTensors) {
  Model m;
  m.graph = Graph::parse(R"(graph(%x: f32[2,3,8,8]) {
    %w = param[name="w"]()
    %c = conv2d[padding=[1,1], stride=[2,2]](%x, %w)
    %p = max_pool2d[kernel=[2,2]](%c)
    %f = flatten[start_dim=1](%p)
    return(%f)
  })");
  m.tensors["w"] = at::randn({5, 3, 3, 3});
  m.infer_shapes();
  m.verify();
  EXPECT_EQ(m.graph.outputs()[0]->shape(), (Shape{2, 5 * 2 * 2}));
  EXPECT_EQ(m.num_params(), 5 * 3 * 3 * 3);
  // MACs of the conv: output elements x (Cin/groups * kh * kw).
  Node* conv = m.graph.find_value("c")->producer();
  EXPECT_EQ(node_macs(*conv), 2 * 5 * 4 * 4 * 3 * 3 * 3);
}

TEST(Model, CloneIsDeep) {
  Model m;
  m.graph = Graph::parse("graph(%x: f32[1,2]) {\n %w = param[name=\"w\"]()\n %y = linear(%x, %w)\n return(%y)\n}");
  m.tensors["w"] = at::ones({3, 2});
  m.infer_shapes();
  Model c = m.clone();
  c.tensors["w"].fill_(2);
  c.graph.nodes()[1]->set_scope("changed");
  EXPECT_EQ(m.tensors["w"].sum().item<float>(), 6.0f);
  EXPECT_EQ(m.graph.nodes()[1]->scope(), "");
  EXPECT_EQ(c.graph.to_string().find("changed") != std::string::npos, true);
}
