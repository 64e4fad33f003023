// The decompose stage in process on the zoo resnet8 and lenet300_100: at full rank every method
// reproduces the model's outputs (every decomposable layer replaced), kept-dense layers, report
// rows, per-layer overrides, and the model-dependent errors raised before the model changes.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "common/error.h"
#include "frontend/frontend.h"
#include "ir/op_registry.h"
#include "lowrank/decompose_stage.h"
#include "lowrank/factor_chains.h"
#include "lowrank/lowrank_test_util.h"
#include "runtime/executor.h"

using namespace mc;
using namespace mc::lowrank;

namespace {
DecomposeOptions options(const std::string& yaml) { return test::decompose_options(yaml); }

ir::Model zoo(const std::string& name) {
  frontend::ZooOptions z;
  z.input_shape = {2, 1, 28, 28};
  ir::Model m = frontend::build_zoo(name, z);
  // Non-trivial BatchNorm statistics so that every layer matters.
  for (auto& [k, t] : m.tensors)
    if (k.find("running_var") != std::string::npos) t.uniform_(0.5, 2.0);
  return m;
}

// Runs the stage's plan on `m` in place; returns the report rows.
nlohmann::json decompose(ir::Model& m, const DecomposeOptions& o) {
  ir::register_core_ops();
  auto layers = plan_layers(m, o);
  rule_ranks_for(m, layers, o);
  nlohmann::json rows = apply_plan(m, layers, o);
  m.drop_unused_tensors();
  m.verify();
  return rows;
}

double rel_max(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

int64_t count_status(const nlohmann::json& rows, const std::string& s) {
  int64_t n = 0;
  for (const auto& r : rows) n += r["status"] == s;
  return n;
}
}  // namespace

TEST(DecomposeStage, FullRankReproducesResnet8ForEveryMethod) {
  for (const std::string method : {"channel_svd", "spatial_svd", "tucker2", "cp"}) {
    SCOPED_TRACE(method);
    at::manual_seed(0);
    ir::Model m = zoo("resnet8");
    const at::Tensor x = at::randn({2, 1, 28, 28});
    const at::Tensor before = runtime::Executor(m).run1(x);
    nlohmann::json rows;
    try {
      rows = decompose(m, options("{method: " + method + ", rank_ratio: 1.0, only_if_cheaper: false}"));
    } catch (const std::exception& e) {
      ADD_FAILURE() << method << ": " << std::string(e.what()).substr(0, 300);
      continue;
    }
    const at::Tensor after = runtime::Executor(m).run1(x);
    EXPECT_LE(rel_max(after, before), 1e-5) << method;
    EXPECT_EQ(count_status(rows, "decomposed"), 10) << method << rows.dump(1);  // 9 convs + fc
    int64_t lr = 0;
    for (const ir::Node* n : m.graph.nodes()) lr += n->scope().find(".lr") != std::string::npos && n->op() != "param";
    EXPECT_GE(lr, 20) << method;
    for (const auto& r : rows) EXPECT_LE(r["rel_error"].get<double>(), 1e-6) << method << " " << r["scope"];
  }
}

TEST(DecomposeStage, KeptDenseWhenFactorsAreNotCheaperAndReportRows) {
  ir::Model m = zoo("resnet8");
  const nlohmann::json rows = decompose(m, options("{method: tucker2, rank_ratio: 0.9, layers: {\"layer3.*\": "
                                                   "{rank_ratio: 0.25}}, exclude: [conv1]}"));
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_EQ(rows[0]["status"], "excluded");
  EXPECT_EQ(rows[0]["method"], "-") << "no method is resolved for an excluded layer";
  for (const auto& r : rows) {
    const std::string scope = r["scope"];
    if (scope.rfind("layer3.0.conv", 0) == 0) {
      EXPECT_EQ(r["status"], "decomposed") << scope;
      EXPECT_LT(r["macs_after"].get<int64_t>(), r["macs_before"].get<int64_t>());
      EXPECT_GT(r["rel_error"].get<double>(), 0.0);
      EXPECT_EQ(r["method"], "tucker2");
    }
    if (scope == "layer1.0.conv1") {
      // [15, 15] on a 16x16x3x3 conv costs 15*16 + 15*15*9 + 16*15 > 16*16*9 per pixel.
      EXPECT_EQ(r["status"], "kept_dense");
      EXPECT_NE(r["reason"].get<std::string>().find("factors at rank [15, 15] cost"), std::string::npos) << r;
      EXPECT_EQ(r["macs_after"], r["macs_before"]);
    }
  }
}

TEST(DecomposeStage, LinearLayersBySvdWithEnergy) {
  at::manual_seed(1);
  ir::Model m = zoo("lenet300_100");
  const at::Tensor x = at::randn({2, 1, 28, 28});
  const nlohmann::json rows = decompose(m, options("{energy: 1.0, only_if_cheaper: false}"));
  EXPECT_EQ(count_status(rows, "decomposed"), 3);
  EXPECT_EQ(rows[0]["method"], "svd");
  EXPECT_EQ(rows[0]["ranks"], nlohmann::json::array({300}));
}

TEST(DecomposeStage, ModelErrorsBeforeAnyChange) {
  ir::Model m = zoo("resnet8");
  const std::string text = m.graph.to_string();
  auto expect_error = [&](const std::string& yaml, const std::string& part) {
    try {
      decompose(m, options(yaml));
      ADD_FAILURE() << yaml << ": no error";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
    EXPECT_EQ(m.graph.to_string(), text) << yaml;
  };
  expect_error("{method: tucker2, rank: 24}", "t.yaml:1:25: decompose: layer 'conv1' (16x1x3x3 conv): rank [24, 24] "
                                            "exceeds the maximum [1, 9] of tucker2");
  expect_error("{rank_ratio: 0.5, exclude: [nope]}", "t.yaml:1:29: decompose: exclude glob 'nope' matches no");
  expect_error("{rank_ratio: 0.5, layers: {\"layer9.*\": {rank: 2}}}", "decompose: layers glob 'layer9.*' matches no");
}

TEST(DecomposeStage, GlobNamingOnlyDepthwiseConvsIsAnError) {
  ir::Model m = zoo("mobilenet_v2_small");
  std::string dw;
  for (const ir::Node* n : m.graph.nodes())
    if (n->op() == "conv2d" && n->attrs().i("groups", 1) > 1 && dw.empty()) dw = n->scope();
  ASSERT_FALSE(dw.empty());
  try {
    decompose(m, options("{rank_ratio: 0.5, layers: {\"" + dw + "\": {rank_ratio: 0.25}}}"));
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("depthwise convs cannot be decomposed"), std::string::npos) << e.what();
  }
}

TEST(FactorChains, MethodAndRanksInferredFromShapes) {
  for (const std::string method : {"channel_svd", "spatial_svd", "tucker2", "cp"}) {
    ir::Model m = zoo("resnet8");
    decompose(m, options("{method: " + method + ", rank: 2, exclude: [conv1, \"*downsample*\"], only_if_cheaper: false, "
                         "cp: {max_error: 1}}"));  // no CP fallback
    const auto chains = find_factor_chains(m);
    ASSERT_EQ(chains.size(), 7u) << method;  // 6 convs + fc
    EXPECT_EQ(chains[0].scope, "layer1.0.conv1");
    EXPECT_EQ(chains[0].method, method);
    EXPECT_EQ(chains[0].ranks, method == "tucker2" ? (std::vector<int64_t>{2, 2}) : std::vector<int64_t>{2});
    EXPECT_EQ(chains.back().scope, "fc");
    EXPECT_EQ(chains.back().method, "svd");
  }
}
