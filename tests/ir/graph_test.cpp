// Graph primitives: the value-name index and the node positions stay right through insertions,
// removals, clones and moves; passes stay linear in the graph size (counted node visits, no timing:
// speed is measured by scripts/bench_graph.sh).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>

#include "common/error.h"
#include "ir/model.h"
#include "ir/passes/optimize.h"

using namespace mc::ir;

namespace {

std::vector<std::string> op_order(const Graph& g) {
  std::vector<std::string> out;
  for (const Node* n : g.nodes()) out.push_back(n->output()->name());
  return out;
}

Graph three_relus() {
  return Graph::parse(R"IR(
graph(%x: f32[1,4]) {
  %a = relu(%x)
  %b = relu(%a)
  %c = relu(%b)
  return(%c)
}
)IR");
}

}  // namespace

TEST(GraphIndex, FindValueFollowsInsertAndRemove) {
  Graph g = three_relus();
  Value* a = g.find_value("a");
  Value* b = g.find_value("b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(g.find_value("x"), g.inputs()[0]);
  EXPECT_EQ(g.find_value("nope"), nullptr);

  Node* before = g.insert_before(b->producer(), "relu", {a});
  Node* after = g.insert_after(b->producer(), "relu", {b});
  EXPECT_EQ(g.find_value(before->output()->name()), before->output());
  EXPECT_EQ(g.find_value(after->output()->name()), after->output());
  EXPECT_EQ(op_order(g), (std::vector<std::string>{"a", before->output()->name(), "b", after->output()->name(), "c"}));

  const std::string gone = after->output()->name();
  g.remove_node(after);
  EXPECT_EQ(g.find_value(gone), nullptr);
  EXPECT_EQ(g.find_value("b"), b);
  // A fresh name never collides with a live value, and a removed name may be used again.
  const std::string fresh = g.fresh_name("b");
  EXPECT_NE(fresh, "b");
  EXPECT_EQ(g.find_value(fresh), nullptr);
  Node* again = g.add_node("relu", {b}, {}, "", 1, {gone});
  EXPECT_EQ(again->output()->name(), gone);
  EXPECT_EQ(g.find_value(gone), again->output());
  g.remove_node(again);
  g.remove_node(before);
  EXPECT_EQ(op_order(g), (std::vector<std::string>{"a", "b", "c"}));
  g.verify();
}

TEST(GraphIndex, ReplaceAllUsesKeepsUseListsExact) {
  Graph g = Graph::parse(R"IR(
graph(%x: f32[1,4]) {
  %a = relu(%x)
  %b = relu(%x)
  %s = add(%a, %a)
  %t = mul(%a, %b)
  return(%s, %a)
}
)IR");
  Value* a = g.find_value("a");
  Value* b = g.find_value("b");
  g.replace_all_uses(a, b);
  EXPECT_TRUE(a->users().empty());
  EXPECT_EQ(b->users().size(), 4u);  // add twice, mul twice
  EXPECT_EQ(g.outputs()[1], b);
  g.remove_node(a->producer());
  EXPECT_EQ(g.find_value("a"), nullptr);
  g.verify();
}

TEST(GraphIndex, CloneAndMoveKeepTheirOwnIndexAndPositions) {
  Graph g = three_relus();
  Graph c = g.clone();
  EXPECT_NE(c.find_value("b"), g.find_value("b"));
  EXPECT_EQ(c.find_value("b")->producer()->inputs()[0], c.find_value("a"));
  // A node of another graph is no position in this one.
  EXPECT_THROW(c.insert_before(g.find_value("b")->producer(), "relu", {c.find_value("a")}), mc::Error);
  EXPECT_THROW(c.remove_node(g.find_value("c")->producer()), mc::Error);

  Graph moved = std::move(g);
  Node* n = moved.insert_after(moved.find_value("a")->producer(), "relu", {moved.find_value("a")});
  EXPECT_EQ(op_order(moved), (std::vector<std::string>{"a", n->output()->name(), "b", "c"}));
  Graph assigned;
  assigned = std::move(moved);
  assigned.remove_node(n);
  EXPECT_EQ(op_order(assigned), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(assigned.first_node(), assigned.find_value("a")->producer());
  assigned.verify();
}

TEST(GraphIndex, TensorRefsFollowAddRenameRemoveAndClone) {
  Graph g = Graph::parse(R"IR(
graph(%x: f32[1,4]) {
  %w = param[name="fc.weight"]()
  %w2 = param[name="fc.weight"]()
  %k = constant[name="k"]()
  %y = linear(%x, %w)
  %z = linear(%y, %w2)
  %o = mul(%z, %k)
  return(%o)
}
)IR");
  Node* w2 = g.find_value("w2")->producer();
  EXPECT_EQ(g.tensor_refs("fc.weight").size(), 2u);
  EXPECT_EQ(g.tensor_refs("k").size(), 1u);
  EXPECT_TRUE(g.tensor_refs("none").empty());

  g.set_tensor_name(w2, "fc2.weight");
  EXPECT_EQ(g.tensor_refs("fc.weight"), (std::vector<Node*>{g.find_value("w")->producer()}));
  EXPECT_EQ(g.tensor_refs("fc2.weight"), (std::vector<Node*>{w2}));
  EXPECT_EQ(w2->attrs().s("name"), "fc2.weight");
  EXPECT_THROW(g.set_tensor_name(g.find_value("y")->producer(), "x"), mc::Error);  // not a param/constant

  Node* k2 = g.insert_before(g.find_value("o")->producer(), "constant", {}, [] {
    Attrs a;
    a.set("name", std::string("k"));
    return a;
  }());
  EXPECT_EQ(g.tensor_refs("k").size(), 2u);
  g.remove_node(k2);
  EXPECT_EQ(g.tensor_refs("k").size(), 1u);

  Graph c = g.clone();
  EXPECT_EQ(c.tensor_refs("fc2.weight"), (std::vector<Node*>{c.find_value("w2")->producer()}));
  g.verify();
  // The index cannot follow a name changed behind its back: verify() says so.
  w2->attrs().set("name", std::string("elsewhere"));
  EXPECT_THROW(g.verify(), mc::Error);
}

namespace {

// `blocks` residual blocks linear -> mul(scale constant) -> relu -> add, as the importer emits them
// for `relu(fc(x) * 0.5) + x` (the optimizer folds every scale into its linear).
Model residual_chain(int blocks) {
  std::string text = "graph(%x: f32[1,4]) {\n";
  std::map<std::string, at::Tensor> tensors;
  std::string prev = "x";
  for (int i = 0; i < blocks; ++i) {
    const std::string s = std::to_string(i), w = "l" + s + ".weight", b = "l" + s + ".bias", k = "l" + s + ".scale";
    text += "  %w" + s + " = param[name=\"" + w + "\"]() @l" + s + "\n";
    text += "  %b" + s + " = param[name=\"" + b + "\"]() @l" + s + "\n";
    text += "  %y" + s + " = linear(%" + prev + ", %w" + s + ", %b" + s + ") @l" + s + "\n";
    text += "  %k" + s + " = constant[name=\"" + k + "\"]() @l" + s + "\n";
    text += "  %m" + s + " = mul(%y" + s + ", %k" + s + ") @l" + s + "\n";
    text += "  %r" + s + " = relu(%m" + s + ") @l" + s + "\n";
    text += "  %o" + s + " = add(%r" + s + ", %" + prev + ") @l" + s + "\n";
    tensors[w] = at::randn({4, 4});
    tensors[b] = at::randn({4});
    tensors[k] = at::scalar_tensor(0.5);
    prev = "o" + s;
  }
  text += "  return(%" + prev + ")\n}\n";
  Model m;
  m.graph = Graph::parse(text);
  m.tensors = std::move(tensors);
  m.infer_shapes();
  return m;
}

size_t optimize_visits(int blocks) {
  Model m = residual_chain(blocks);
  const size_t before = m.graph.node_visits();
  passes::optimize(m);
  EXPECT_EQ(m.graph.num_nodes(), static_cast<size_t>(5 * blocks)) << "every scale folded into its linear";
  return m.graph.node_visits() - before;
}

}  // namespace

// Whole-graph walks (nodes(), verify, clone, ...) done by the optimizer: linear in the graph size,
// so twice the blocks cost twice the visits (a walk per node, e.g. nodes() in a loop, makes it 4x).
// 2.5 leaves room for per-sweep constants; the ratio is deterministic (no timing).
TEST(GraphScaling, OptimizeWalksTheGraphLinearly) {
  const size_t small = optimize_visits(100), large = optimize_visits(200);
  ASSERT_GT(small, 0u);
  EXPECT_LT(static_cast<double>(large) / static_cast<double>(small), 2.5) << small << " -> " << large;
}

// add_tensor: a taken hint gets the next unused ".N" suffix (continuing from the last one given,
// so k tensors with one hint are not quadratic); a freed base name is used again.
TEST(ModelTensors, AddTensorNamesAreFreshAndContinue) {
  Model m;
  EXPECT_EQ(m.add_tensor("s", at::zeros({1})), "s");
  EXPECT_EQ(m.add_tensor("s", at::zeros({1})), "s.1");
  m.tensors["s.2"] = at::zeros({1});  // taken behind add_tensor's back
  EXPECT_EQ(m.add_tensor("s", at::zeros({1})), "s.3");
  m.tensors.erase("s");
  EXPECT_EQ(m.add_tensor("s", at::zeros({1})), "s");
  Model c = m.clone();
  EXPECT_EQ(c.add_tensor("s", at::zeros({1})), "s.4");
  EXPECT_EQ(m.tensors.size(), 4u);
}
