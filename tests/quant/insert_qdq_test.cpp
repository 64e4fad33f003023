// plan_qdq/insert_qdq on hand-written IR: exactly which values get fake_quant nodes for a residual
// block, pooling/flatten, concat, shared inputs, an excluded layer; and the placement errors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <set>

#include "common/error.h"
#include "ir/model.h"
#include "quantization/insert_qdq.h"
#include "ir/pass_test_util.h"
#include "runtime/executor.h"

using namespace mc::quant;
using mc::ir::Model;
using mc::ir::pass_test::make;  // a verified Model from IR text + tensors

namespace {

const char* kResidual = R"IR(graph(%x: f32[2,4,8,8]) {
  %w1 = param[name="conv1.weight"]() @conv1
  %b1 = param[name="conv1.bias"]() @conv1
  %c1 = conv2d[padding=[1,1]](%x, %w1, %b1) @conv1
  %r1 = relu(%c1) @relu1
  %w2 = param[name="conv2.weight"]() @conv2
  %c2 = conv2d[padding=[1,1]](%r1, %w2) @conv2
  %s = add(%c2, %x) @block
  %r2 = relu(%s) @relu2
  %p = max_pool2d[kernel=[2,2], stride=[2,2]](%r2) @pool
  %f = flatten[end_dim=-1, start_dim=1](%p) @flatten
  %wf = param[name="fc.weight"]() @fc
  %bf = param[name="fc.bias"]() @fc
  %y = linear(%f, %wf, %bf) @fc
  return(%y, %r1)
}
)IR";

Model residual() {
  at::manual_seed(0);
  return make(kResidual, {{"conv1.weight", at::randn({4, 4, 3, 3})},
                          {"conv1.bias", at::randn({4})},
                          {"conv2.weight", at::randn({4, 4, 3, 3})},
                          {"fc.weight", at::randn({10, 64})},
                          {"fc.bias", at::randn({10})}});
}

// The value input `i` of the node producing `out` reads, and whether it is a fake_quant output.
const mc::ir::Node* producer_of_input(const Model& m, const std::string& out, size_t i) {
  return m.graph.find_value(out)->producer()->input(i)->producer();
}
bool reads_fq(const Model& m, const std::string& out, size_t i) {
  auto* p = producer_of_input(m, out, i);
  return p && p->op() == "fake_quant";
}
// The float value behind input `i` of `out`'s node (through a fake_quant).
std::string source_of(const Model& m, const std::string& out, size_t i) {
  auto* v = m.graph.find_value(out)->producer()->input(i);
  if (v->producer() && v->producer()->op() == "fake_quant") v = v->producer()->input(0);
  return v->name();
}
int64_t count_fq(const Model& m) {
  int64_t n = 0;
  for (auto* node : m.graph.nodes()) n += node->op() == "fake_quant";
  return n;
}

}  // namespace

TEST(InsertQdq, ResidualBlockPoolingAndFlatten) {
  Model m = residual();
  at::Tensor x = at::randn({2, 4, 8, 8});
  at::Tensor before = mc::runtime::Executor(m).run1(x);
  QuantConfig cfg;
  QuantPlan plan = plan_qdq(m, cfg);

  std::vector<std::string> wnames;
  for (auto& w : plan.weights) wnames.push_back(w.name);
  EXPECT_EQ(wnames, (std::vector<std::string>{"conv1.weight", "conv2.weight", "fc.weight"}));
  for (auto& w : plan.weights) {
    EXPECT_EQ(w.spec.qscheme, "per_channel_symmetric");
    EXPECT_EQ(w.spec.ch_axis, 0);
  }
  // Activations: x (conv1 and the residual add share one quantizer), r1 (conv2), c2 (add), and
  // r2 for fc: the request moves through flatten and max_pool to the pool's input.
  ASSERT_EQ(plan.activations.size(), 4u);
  std::map<std::string, std::vector<std::string>> values;
  for (auto& a : plan.activations) values[a.name] = a.values;
  EXPECT_EQ(values["conv1.input_quant"], std::vector<std::string>{"x"});
  EXPECT_EQ(values["conv2.input_quant"], std::vector<std::string>{"r1"});
  EXPECT_EQ(values["block.input_quant"], std::vector<std::string>{"c2"});
  EXPECT_EQ(values["pool.input_quant"], std::vector<std::string>{"r2"});  // named after the pool it precedes

  std::map<std::string, QParams> q{{"conv1.input_quant", {at::tensor({0.05f}), at::tensor({int64_t(0)})}}};
  auto inserted = insert_qdq(m, plan, q);
  EXPECT_EQ(inserted.size(), 7u);
  EXPECT_EQ(count_fq(m), 7);
  // conv1 reads fq(x), and so does the add (the same node); conv2 reads fq(r1); the add reads fq(c2).
  EXPECT_TRUE(reads_fq(m, "c1", 0));
  EXPECT_TRUE(reads_fq(m, "c1", 1));  // weight
  EXPECT_FALSE(reads_fq(m, "c1", 2)); // bias stays float
  EXPECT_EQ(producer_of_input(m, "c1", 0), producer_of_input(m, "s", 1));
  EXPECT_TRUE(reads_fq(m, "c2", 0));
  EXPECT_TRUE(reads_fq(m, "s", 0));
  EXPECT_EQ(source_of(m, "s", 0), "c2");
  // The pool reads fq(r2); flatten and fc read the pool's and flatten's outputs directly.
  EXPECT_TRUE(reads_fq(m, "p", 0));
  EXPECT_EQ(source_of(m, "p", 0), "r2");
  EXPECT_EQ(producer_of_input(m, "f", 0)->op(), "max_pool2d");
  EXPECT_EQ(producer_of_input(m, "y", 0)->op(), "flatten");
  EXPECT_TRUE(reads_fq(m, "y", 1));
  // Graph outputs stay float: y is the linear's output, the second output is the relu itself.
  EXPECT_EQ(m.graph.outputs()[0]->producer()->op(), "linear");
  EXPECT_EQ(m.graph.outputs()[1]->name(), "r1");
  // Weight quantizers are per channel on axis 0 with int8 grid; the given activation scale is used.
  auto* wfq = producer_of_input(m, "c1", 1);
  EXPECT_EQ(wfq->attrs().i("axis"), 0);
  EXPECT_EQ(wfq->attrs().i("quant_min"), -128);
  EXPECT_EQ(wfq->attrs().i("quant_max"), 127);
  EXPECT_EQ(m.tensor("conv1.input_quant.scale").item<float>(), 0.05f);
  at::Tensor ws = m.tensor("conv1.weight.scale");
  EXPECT_TRUE(at::allclose(ws, m.tensor("conv1.weight").abs().flatten(1).amax(1) / 127.5));
  // The quantized model runs and stays close to the float one at int8.
  at::Tensor after = mc::runtime::Executor(m).run1(x);
  EXPECT_FALSE(at::equal(after, before));
}

TEST(InsertQdq, ExcludedLayerKeepsFloatWeightsAndInputs) {
  Model m = residual();
  QuantConfig cfg;
  cfg.exclude = {{"fc", {}}};
  QuantPlan plan = plan_qdq(m, cfg);
  EXPECT_EQ(plan.weights.size(), 2u);
  EXPECT_EQ(plan.activations.size(), 3u);
  insert_qdq(m, plan, {});
  EXPECT_EQ(count_fq(m), 5);
  EXPECT_FALSE(reads_fq(m, "y", 1));
  EXPECT_FALSE(reads_fq(m, "p", 0));
}

TEST(InsertQdq, PerLayerOverridesByGlob) {
  Model m = residual();
  QuantConfig cfg;
  LayerOverride o;
  o.glob = {"conv*", {}};
  o.has_weights = true;
  o.weights = cfg.weights;
  o.weights.bits = 4;
  cfg.layers.push_back(o);
  QuantPlan plan = plan_qdq(m, cfg);
  insert_qdq(m, plan, {});
  EXPECT_EQ(producer_of_input(m, "c1", 1)->attrs().i("quant_min"), -8);
  EXPECT_EQ(producer_of_input(m, "c2", 1)->attrs().i("quant_max"), 7);
  EXPECT_EQ(producer_of_input(m, "y", 1)->attrs().i("quant_max"), 127);
}

TEST(InsertQdq, ConcatInputsShareOneQuantizer) {
  at::manual_seed(1);
  Model m = make(R"IR(graph(%x: f32[1,2,6,6]) {
  %wa = param[name="a.weight"]() @a
  %a = conv2d(%x, %wa) @a
  %ra = relu(%a) @a
  %wb = param[name="b.weight"]() @b
  %b = conv2d(%x, %wb) @b
  %rb = relu(%b) @b
  %cat = cat[dim=1](%ra, %rb) @cat
  %wc = param[name="c.weight"]() @c
  %c = conv2d(%cat, %wc) @c
  %wd = param[name="d.weight"]() @d
  %d = conv2d(%rb, %wd) @d
  %o = add(%c, %d) @out
  return(%o)
}
)IR",
                 {{"a.weight", at::randn({3, 2, 1, 1})},
                  {"b.weight", at::randn({3, 2, 1, 1})},
                  {"c.weight", at::randn({4, 6, 1, 1})},
                  {"d.weight", at::randn({4, 3, 1, 1})}});
  QuantPlan plan = plan_qdq(m, QuantConfig());
  EXPECT_EQ(plan.weights.size(), 4u);
  // x (a and b), {ra, rb} (the concat, shared with d's input rb), c and d (the add).
  ASSERT_EQ(plan.activations.size(), 4u);
  std::map<std::string, std::vector<std::string>> values;
  for (auto& a : plan.activations) values[a.name] = a.values;
  EXPECT_EQ(values["a.input_quant"], std::vector<std::string>{"x"});
  EXPECT_EQ(values["c.input_quant"], (std::vector<std::string>{"ra", "rb"}));
  EXPECT_EQ(values["out.input_quant"], (std::vector<std::string>{"c"}));
  EXPECT_EQ(values["out.input_quant1"], (std::vector<std::string>{"d"}));
  insert_qdq(m, plan, {});
  // The concat's inputs are fake-quantized with the same scale value; its output is not.
  auto* cat = m.graph.find_value("cat")->producer();
  auto* fa = cat->input(0)->producer();
  auto* fb = cat->input(1)->producer();
  ASSERT_EQ(fa->op(), "fake_quant");
  ASSERT_EQ(fb->op(), "fake_quant");
  EXPECT_EQ(fa->input(1), fb->input(1));
  EXPECT_FALSE(reads_fq(m, "c", 0));
  EXPECT_EQ(producer_of_input(m, "d", 0), fb);  // d shares rb's quantizer
  EXPECT_EQ(count_fq(m), 4 + 1 + 2 + 2);
}

// `adds: integer` keeps a CNN's residual add quantized (its output reaches the classifier through
// relu, max pool and flatten: ORT runs it as QLinearAdd) and drops the quantizers of an add that
// only a graph output reads (ORT would run a float Add between Q/DQ pairs).
TEST(InsertQdq, IntegerAddsOnlyKeepsAddsThatFeedAQuantizedLayer) {
  QuantConfig cfg;
  cfg.integer_adds_only = true;
  Model r = residual();
  const QuantPlan all = plan_qdq(r, QuantConfig()), integer = plan_qdq(r, cfg);
  auto names = [](const QuantPlan& p) {
    std::set<std::string> s;
    for (auto& a : p.activations) s.insert(a.name);
    return s;
  };
  EXPECT_EQ(names(integer), names(all));
  EXPECT_EQ(names(integer).count("block.input_quant"), 1u);
  Model m = make(R"IR(graph(%x: f32[2,4,8,8]) {
  %w1 = param[name="a.weight"]() @a
  %a = conv2d(%x, %w1) @a
  %w2 = param[name="b.weight"]() @b
  %b = conv2d(%x, %w2) @b
  %o = add(%a, %b) @out
  return(%o)
}
)IR",
                 {{"a.weight", at::randn({4, 4, 1, 1})}, {"b.weight", at::randn({4, 4, 1, 1})}});
  EXPECT_EQ(names(plan_qdq(m, QuantConfig())), (std::set<std::string>{"a.input_quant", "out.input_quant", "out.input_quant1"}));
  EXPECT_EQ(names(plan_qdq(m, cfg)), std::set<std::string>{"a.input_quant"});
}

TEST(InsertQdq, ErrorsNameTheRecipeKeyAndLocation) {
  Model m = residual();
  QuantConfig cfg;
  LayerOverride o;
  o.glob = {"fc", {"r.yaml", 7, 9}};
  o.source = {"stages.0.quantize.layers.fc", {"r.yaml", 7, 9}};
  o.has_weights = true;
  o.weights = cfg.weights;
  o.weights.ch_axis = 2;  // a linear weight is [out, in]
  cfg.layers.push_back(o);
  try {
    plan_qdq(m, cfg);
    FAIL() << "no error";
  } catch (const mc::InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("r.yaml:7:9: 'stages.0.quantize.layers.fc.weights'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("op 'linear' at scope 'fc'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[10,64]"), std::string::npos) << msg;
  }
  // A pattern that matches nothing is an error too (a typo would silently quantize everything).
  QuantConfig cfg2;
  cfg2.exclude = {{"fc", {"r.yaml", 9, 14}}, {"fcc", {"r.yaml", 9, 18}}};
  cfg2.context = "stages.0.quantize";
  try {
    plan_qdq(m, cfg2);
    FAIL() << "no error";
  } catch (const mc::InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("r.yaml:9:18: quantize: stages.0.quantize.exclude glob 'fcc' matches no layer scope; layer "
                       "scopes are: conv1, relu1, conv2, block, relu2, pool, flatten, fc."),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("`compress inspect MODEL` lists the scopes"), std::string::npos) << msg;
  }
  // An override's glob likewise, at its own location.
  QuantConfig cfg3;
  cfg3.context = "stages.0.quantize";
  LayerOverride typo;
  typo.glob = {"layer9", {"r.yaml", 11, 7}};
  cfg3.layers.push_back(typo);
  try {
    plan_qdq(m, cfg3);
    FAIL() << "no error";
  } catch (const mc::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("r.yaml:11:7: quantize: stages.0.quantize.layers glob 'layer9' matches no"),
              std::string::npos)
        << e.what();
  }
  // Quantizing twice.
  QuantPlan plan = plan_qdq(m, QuantConfig());
  insert_qdq(m, plan, {});
  EXPECT_THROW(plan_qdq(m, QuantConfig()), mc::InputError);
}

namespace {
// A chain of `layers` linear -> relu layers.
Model linear_chain(int layers) {
  std::string text = "graph(%x: f32[1,4]) {\n";
  std::map<std::string, at::Tensor> tensors;
  std::string prev = "x";
  for (int i = 0; i < layers; ++i) {
    const std::string s = std::to_string(i), w = "l" + s + ".weight";
    text += "  %w" + s + " = param[name=\"" + w + "\"]() @l" + s + "\n";
    text += "  %y" + s + " = linear(%" + prev + ", %w" + s + ") @l" + s + "\n";
    text += "  %r" + s + " = relu(%y" + s + ") @l" + s + "\n";
    tensors[w] = at::randn({4, 4});
    prev = "r" + s;
  }
  return make(text + "  return(%" + prev + ")\n}\n", std::move(tensors));
}

size_t qdq_visits(int layers) {
  Model m = linear_chain(layers);
  const size_t before = m.graph.node_visits();
  QuantPlan plan = plan_qdq(m, QuantConfig());
  insert_qdq(m, plan, {});
  EXPECT_EQ(count_fq(m), 2 * layers);
  return m.graph.node_visits() - before;
}
}  // namespace

// Planning and inserting walk the graph a fixed number of times: twice the layers, twice the node
// visits (one walk per quantizer, e.g. nodes().front() to find the top of the graph, makes it 4x).
// Deterministic counts, no timing; 2.5 leaves room for constant terms.
TEST(InsertQdq, WalksTheGraphLinearly) {
  const size_t small = qdq_visits(100), large = qdq_visits(200);
  ASSERT_GT(small, 0u);
  EXPECT_LT(static_cast<double>(large) / static_cast<double>(small), 2.5) << small << " -> " << large;
}
