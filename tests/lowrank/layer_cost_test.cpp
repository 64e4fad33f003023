// layer_cost: the MACs and parameters predicted from shapes equal what the op registry counts
// (ir::node_macs, Model::num_params) after the rewrite, for every method, strided/padded/dilated
// convs, linear and both matmul forms; maximum ranks and rank problems.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ir/op_registry.h"
#include "lowrank/factorize.h"
#include "lowrank/layer_cost.h"
#include "lowrank/lowrank_test_util.h"

using namespace mc;
using namespace mc::lowrank;

namespace {
int64_t macs(const ir::Model& m) {
  int64_t t = 0;
  for (const ir::Node* n : m.graph.nodes()) t += ir::node_macs(*n);
  return t;
}

ir::Node* layer(ir::Model& m, const std::string& op) {
  for (ir::Node* n : m.graph.nodes())
    if (n->op() == op) return n;
  return nullptr;
}

// Predicted cost of the chain == counted cost after the rewrite (the bias is the same both ways).
void expect_cost_matches(ir::Model m, const std::string& op, ConvMethod method, const Ranks& ranks) {
  ir::register_core_ops();
  ir::Node* n = layer(m, op);
  const LayerShape s = layer_shape(*n);
  const int64_t dense_macs = macs(m), dense_params = m.num_params();
  EXPECT_EQ(dense_cost(s).macs, dense_macs);
  const Cost predicted = factor_cost(s, method, ranks);
  const Factored f = factorize(layer_weight(m, *n), s, method, ranks, CpSettings{500, 1.0});  // no fallback
  apply_factors(m, n, f);
  m.drop_unused_tensors();
  EXPECT_EQ(predicted.macs, macs(m)) << method_name(method) << " " << ranks_text(ranks);
  EXPECT_EQ(predicted.params - dense_cost(s).params, m.num_params() - dense_params) << method_name(method);
}
}  // namespace

TEST(LayerCost, ConvChainsMatchTheOpRegistry) {
  at::manual_seed(0);
  const at::Tensor w = at::randn({6, 4, 3, 3});
  const std::string attrs = "dilation=[2,1], padding=[1,2], stride=[2,1]";
  const ir::Model m = test::conv_model(w, attrs, "[2,4,11,9]");
  expect_cost_matches(m.clone(), "conv2d", ConvMethod::channel_svd, {3});
  expect_cost_matches(m.clone(), "conv2d", ConvMethod::spatial_svd, {5});
  expect_cost_matches(m.clone(), "conv2d", ConvMethod::tucker2, {2, 3});
  expect_cost_matches(m.clone(), "conv2d", ConvMethod::cp, {7});
  expect_cost_matches(m.clone(), "conv2d", ConvMethod::cp, {36});  // cp_exact
}

TEST(LayerCost, LinearAndMatmulMatchTheOpRegistry) {
  at::manual_seed(1);
  const ir::Model lin = test::make_model(
      "graph(%x: f32[3,20]) {\n  %w = param[name=\"fc.weight\"]() @fc\n  %b = param[name=\"fc.bias\"]() @fc\n"
      "  %y = linear(%x, %w, %b) @fc\n  return(%y)\n}\n",
      {{"fc.weight", at::randn({12, 20})}, {"fc.bias", at::randn({12})}});
  expect_cost_matches(lin.clone(), "linear", ConvMethod::channel_svd, {5});
  const ir::Model right = test::make_model(
      "graph(%x: f32[2,3,20]) {\n  %w = param[name=\"w\"]() @mm\n  %y = matmul(%x, %w) @mm\n  return(%y)\n}\n",
      {{"w", at::randn({20, 12})}});
  expect_cost_matches(right.clone(), "matmul", ConvMethod::channel_svd, {4});
  const ir::Model left = test::make_model(
      "graph(%x: f32[20,7]) {\n  %w = param[name=\"w\"]() @mm\n  %y = matmul(%w, %x) @mm\n  return(%y)\n}\n",
      {{"w", at::randn({12, 20})}});
  expect_cost_matches(left.clone(), "matmul", ConvMethod::channel_svd, {4});
}

TEST(LayerCost, MaxRanksAndProblems) {
  LayerShape s;
  s.conv = true;
  s.out = 32, s.in = 16, s.kh = 3, s.kw = 3;
  EXPECT_EQ(max_ranks(s, ConvMethod::channel_svd), Ranks{32});
  EXPECT_EQ(max_ranks(s, ConvMethod::spatial_svd), Ranks{48});
  EXPECT_EQ(max_ranks(s, ConvMethod::tucker2), (Ranks{16, 32}));
  EXPECT_EQ(max_ranks(s, ConvMethod::cp), Ranks{144});
  EXPECT_EQ(rank_problem(s, ConvMethod::tucker2, {16, 32}), "");
  EXPECT_NE(rank_problem(s, ConvMethod::tucker2, {17, 8}).find("exceeds the maximum [16, 32]"), std::string::npos);
  EXPECT_NE(rank_problem(s, ConvMethod::channel_svd, {4, 4}).find("takes one rank"), std::string::npos);
  EXPECT_NE(rank_problem(s, ConvMethod::cp, {0}).find("at least 1"), std::string::npos);
}
