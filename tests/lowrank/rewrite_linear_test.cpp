// decompose_linear: linear and matmul layers become two factors in the graph; outputs through the
// executor, scopes, parameter names, removal of the old weight.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "lowrank/lowrank_test_util.h"
#include "lowrank/rewrite.h"
#include "lowrank/svd.h"
#include "runtime/executor.h"

using namespace mc;
using namespace mc::lowrank;
using mc::lowrank::test::count;
using mc::lowrank::test::low_rank_matrix;
using mc::lowrank::test::make_model;
using mc::lowrank::test::rel_max;

// Output tolerance: the reference is the executor's own float32 run of the original layer (sums of
// `in` = 40 products); the factored layer computes the same sum as two float32 products whose
// factors are rounded to float32. Both are off from the exact value by ~sqrt(terms) * 6e-8 of the
// output scale; measured max |diff| / max |y| <= 2.9e-7 on these sizes, asserted at 1e-5.
constexpr double kOutTol = 1e-5;

namespace {
const char* kLinear = R"IR(graph(%x: f32[5,40]) {
  %w = param[name="fc.weight"]() @fc
  %b = param[name="fc.bias"]() @fc
  %y = linear(%x, %w, %b) @fc
  return(%y)
}
)IR";

// Decomposes the model's (last) linear/matmul at rank r and returns max |after - before| / max |before|.
double decompose_and_compare(ir::Model& m, const at::Tensor& x, int64_t r) {
  const at::Tensor before = runtime::Executor(m).run1(x);
  ir::Node* layer = nullptr;
  for (ir::Node* n : m.graph.nodes())
    if (n->op() == "linear" || n->op() == "matmul") layer = n;
  decompose_linear(m, layer, svd_linear(linear_weight(m, layer), r));
  m.verify();
  return rel_max(runtime::Executor(m).run1(x), before);
}
}  // namespace

TEST(DecomposeLinear, TrueRankReproducesTheLayerAndTheGraphIsClean) {
  at::manual_seed(40);
  ir::Model m = make_model(kLinear, {{"fc.weight", low_rank_matrix(24, 40, 6)}, {"fc.bias", at::randn({24})}});
  ASSERT_EQ(m.graph.num_nodes(), 3u);
  const double err = decompose_and_compare(m, at::randn({5, 40}), 6);
  std::printf("linear [24, 40] rank 6 through the executor: max rel diff %.2e\n", err);
  EXPECT_LT(err, kOutTol);
  EXPECT_EQ(count(m, "linear"), 2);
  EXPECT_EQ(m.graph.num_nodes(), 5u);  // 2 params + 2 linears + the bias param
  EXPECT_EQ(m.tensors.count("fc.weight"), 0u);
  // Graph order: the bias param stood before the layer, the factors are inserted right before it.
  EXPECT_EQ(m.param_names(), (std::vector<std::string>{"fc.bias", "fc.lr0.weight", "fc.lr1.weight"}));
  EXPECT_EQ(m.tensor("fc.lr0.weight").sizes(), (std::vector<int64_t>{6, 40}));
  EXPECT_EQ(m.tensor("fc.lr1.weight").sizes(), (std::vector<int64_t>{24, 6}));
  // The output is produced by the second factor, which has the bias; the first has none.
  ir::Node* last = m.graph.outputs()[0]->producer();
  EXPECT_EQ(last->scope(), "fc.lr1");
  ASSERT_EQ(last->inputs().size(), 3u);
  EXPECT_EQ(last->input(2)->producer()->attrs().s("name"), "fc.bias");
  ir::Node* first = last->input(0)->producer();
  EXPECT_EQ(first->scope(), "fc.lr0");
  EXPECT_EQ(first->inputs().size(), 2u);
  EXPECT_EQ(first->input(0), m.graph.inputs()[0]);
  EXPECT_EQ(first->input(1)->producer()->scope(), "fc.lr0");
}

TEST(DecomposeLinear, FullRankReproducesAnyLayer) {
  at::manual_seed(41);
  ir::Model m = make_model(kLinear, {{"fc.weight", at::randn({24, 40})}, {"fc.bias", at::randn({24})}});
  const double err = decompose_and_compare(m, at::randn({5, 40}), 24);
  std::printf("linear [24, 40] full rank: max rel diff %.2e\n", err);
  EXPECT_LT(err, kOutTol);
}

TEST(DecomposeLinear, MatmulWithTheWeightOnEitherSide) {
  at::manual_seed(42);
  {  // x @ W, W [in 12, out 9]
    ir::Model m = make_model(R"IR(graph(%x: f32[3,4,12]) {
  %w = param[name="proj.w"]() @proj
  %y = matmul(%x, %w) @proj
  return(%y)
}
)IR", {{"proj.w", at::randn({12, 9})}});
    EXPECT_EQ(linear_weight(m, m.graph.outputs()[0]->producer()).sizes(), (std::vector<int64_t>{9, 12}));
    EXPECT_LT(decompose_and_compare(m, at::randn({3, 4, 12}), 9), kOutTol);
    EXPECT_EQ(count(m, "matmul"), 2);
    EXPECT_EQ(m.param_names(), (std::vector<std::string>{"proj.w.lr0", "proj.w.lr1"}));
    EXPECT_EQ(m.tensor("proj.w.lr0").sizes(), (std::vector<int64_t>{12, 9}));
  }
  {  // W @ x, W [out 7, in 10]
    ir::Model m = make_model(R"IR(graph(%x: f32[10,6]) {
  %w = param[name="mix.weight"]() @mix
  %y = matmul(%w, %x) @mix
  return(%y)
}
)IR", {{"mix.weight", low_rank_matrix(7, 10, 3)}});
    EXPECT_LT(decompose_and_compare(m, at::randn({10, 6}), 3), kOutTol);
    EXPECT_EQ(m.tensor("mix.lr0.weight").sizes(), (std::vector<int64_t>{3, 10}));
    EXPECT_EQ(m.tensor("mix.lr1.weight").sizes(), (std::vector<int64_t>{7, 3}));
  }
}

TEST(DecomposeLinear, ASharedWeightStaysForItsOtherUser) {
  at::manual_seed(43);
  ir::Model m = make_model(R"IR(graph(%x: f32[2,8]) {
  %w = param[name="tied.weight"]() @a
  %y = linear(%x, %w) @a
  %z = linear(%y, %w) @b
  return(%z)
}
)IR", {{"tied.weight", at::randn({8, 8})}});
  const at::Tensor x = at::randn({2, 8});
  const at::Tensor before = runtime::Executor(m).run1(x);
  ir::Node* a = m.graph.find_value("y")->producer();
  decompose_linear(m, a, svd_linear(linear_weight(m, a), 8));
  m.verify();
  EXPECT_EQ(m.tensors.count("tied.weight"), 1u);  // layer b still reads it
  EXPECT_EQ(count(m, "linear"), 3);
  EXPECT_LT(rel_max(runtime::Executor(m).run1(x), before), kOutTol);
}

TEST(DecomposeLinear, RefusesQuantizedOrComputedWeights) {
  at::manual_seed(44);
  ir::Model q = make_model(R"IR(graph(%x: f32[2,8]) {
  %w = param[name="head.fc.weight"]() @head.fc
  %s = constant[name="s"]() @head.fc
  %z = constant[name="z"]() @head.fc
  %wq = fake_quant[quant_min=-128, quant_max=127](%w, %s, %z) @head.fc
  %y = linear(%x, %wq) @head.fc
  return(%y)
}
)IR", {{"head.fc.weight", at::randn({4, 8})}, {"s", at::tensor({0.1f})}, {"z", at::tensor({0.0f})}});
  ir::Node* fc = q.graph.outputs()[0]->producer();
  try {
    linear_weight(q, fc);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("decompose before quantize"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("head.fc"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decompose_linear(q, fc, svd_linear(at::randn({4, 8}), 2)), InputError);

  ir::Model two = make_model(R"IR(graph(%a: f32[3,5], %b: f32[5,4]) {
  %y = matmul(%a, %b) @attn
  return(%y)
}
)IR", {});
  try {
    linear_weight(two, two.graph.outputs()[0]->producer());
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not a stored tensor"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("attn"), std::string::npos) << e.what();
  }
}

TEST(DecomposeLinear, FactorsOfTheWrongShapeAreAnError) {
  ir::Model m = make_model(kLinear, {{"fc.weight", at::randn({24, 40})}, {"fc.bias", at::randn({24})}});
  ir::Node* fc = m.graph.outputs()[0]->producer();
  EXPECT_THROW(decompose_linear(m, fc, svd_linear(at::randn({40, 24}), 4)), mc::Error);
  EXPECT_EQ(m.graph.num_nodes(), 3u);  // checked before anything changed
}
