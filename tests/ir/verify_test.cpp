#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "ir/model.h"

using namespace mc::ir;

namespace {
std::string verify_error(const std::string& text) {
  try {
    Graph g = Graph::parse(text);
    g.verify();
  } catch (const mc::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Verify, AcceptsWellFormedGraph) {
  EXPECT_EQ(verify_error("graph(%x: f32[1,4]) {\n %y: f32[1,4] = relu(%x)\n return(%y)\n}"), "");
}

TEST(Verify, RejectsUnknownOp) {
  EXPECT_NE(verify_error("graph(%x: f32[1,4]) {\n %y = frobnicate(%x) @blk\n return(%y)\n}").find("frobnicate"),
            std::string::npos);
}

TEST(Verify, RejectsWrongArity) {
  EXPECT_NE(verify_error("graph(%x: f32[1,4]) {\n %y = relu(%x, %x)\n return(%y)\n}").find("inputs"), std::string::npos);
}

TEST(Verify, ShapeInferenceRejectsWrongArity) {
  // Model::load infers shapes before it verifies: relu() threw std::out_of_range from the shape
  // function (found by the ir_text fuzz target).
  Graph g = Graph::parse("graph(%x: f32[1,4]) {\n %y = relu()\n return(%y)\n}");
  try {
    g.infer_shapes();
    FAIL() << "no error";
  } catch (const mc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("relu"), std::string::npos) << e.what();
  }
}

TEST(Verify, ShapeInferenceTurnsAtenErrorsIntoErrorsNamingTheNode) {
  // A reshape to an impossible shape: ATen's check in the meta shape function threw a plain
  // std::runtime_error out of infer_shapes (found by the ir_text fuzz target; input in its corpus).
  Graph g = Graph::parse("graph(%x: f32[2,2]) {\n %y = reshape[shape=[5,-1]](%x)\n return(%y)\n}");
  try {
    g.infer_shapes();
    FAIL() << "no error";
  } catch (const mc::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("reshape"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(Verify, RejectsMissingAndUnknownAttributes) {
  EXPECT_NE(verify_error("graph(%x: f32[1,4]) {\n %y = cat(%x, %x)\n return(%y)\n}").find("'dim'"), std::string::npos);
  EXPECT_NE(verify_error("graph(%x: f32[1,4]) {\n %y = relu[bogus=1](%x)\n return(%y)\n}").find("bogus"),
            std::string::npos);
}

TEST(Verify, RejectsWrongShape) {
  std::string e = verify_error("graph(%x: f32[1,4]) {\n %y: f32[1,5] = relu(%x)\n return(%y)\n}");
  EXPECT_NE(e.find("f32[1,5]"), std::string::npos) << e;
}

TEST(Verify, RejectsBrokenTopologicalOrder) {
  Graph g = Graph::parse("graph(%x: f32[1,4]) {\n %a = relu(%x)\n %b = sigmoid(%a)\n return(%b)\n}");
  // Insert a node before %a's producer that uses %b: order is broken.
  Node* first = g.nodes()[0];
  Node* bad = g.insert_before(first, "tanh", {g.find_value("b")});
  (void)bad;
  EXPECT_THROW(g.verify(), mc::Error);
}

TEST(Verify, RejectsShapeMismatchInConv) {
  Model m;
  m.graph = Graph::parse("graph(%x: f32[1,3,8,8]) {\n %w = param[name=\"w\"]()\n %y = conv2d(%x, %w)\n return(%y)\n}");
  m.tensors["w"] = at::zeros({4, 2, 3, 3});
  try {
    m.infer_shapes();
    FAIL();
  } catch (const mc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("channels"), std::string::npos) << e.what();
  }
}

TEST(Graph, ReplaceAllUsesAndRemoveKeepUseLists) {
  Graph g = Graph::parse("graph(%x: f32[1,4]) {\n %a = relu(%x)\n %b = identity(%a)\n %c = sigmoid(%b)\n return(%c, %b)\n}");
  g.infer_shapes();
  Value* a = g.find_value("a");
  Value* b = g.find_value("b");
  g.replace_all_uses(b, a);
  g.remove_node(b->producer());
  g.verify();
  EXPECT_EQ(g.num_nodes(), 2u);
  EXPECT_EQ(g.outputs()[1], a);
  EXPECT_EQ(a->users().size(), 1u);
}
