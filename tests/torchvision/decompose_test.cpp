// The decompose stage on torchvision models (traced fixtures): at full rank every method (Tucker-2
// alone on the three big models) replaces every conv that can be decomposed (groups 1; depthwise convs are skipped) and the linear
// classifier, and the outputs stay those of the dense model; the Tucker-2 model exports and runs in
// ONNX Runtime with our executor's outputs. Label "slow".
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "export/export_test_util.h"
#include "frontend/torchscript_test_util.h"
#include "ir/op_registry.h"
#include "lowrank/decompose_stage.h"
#include "lowrank/lowrank_test_util.h"
#include "runtime/executor.h"

namespace mc {
namespace {

lowrank::DecomposeOptions full_rank(const std::string& method) {
  return lowrank::test::decompose_options("{method: " + method + ", rank_ratio: 1.0, only_if_cheaper: false}");
}

class DecomposeTorchvision : public ::testing::TestWithParam<std::string> {};

// Every method on every model up to resnet18's size; on the three big ones Tucker-2 only (the
// method the test also exports): the rewrite is the same code for every method, and each method's
// float64 SVDs of their widest convs took 1-2 minutes per model on the CI machine.
std::vector<std::string> methods_for(const std::string& model) {
  if (model == "resnet50" || model == "densenet121" || model == "convnext_tiny") return {"tucker2"};
  return {"channel_svd", "spatial_svd", "tucker2", "cp"};
}

TEST_P(DecomposeTorchvision, FullRankKeepsOutputsForEveryMethod) {
  const std::string name = GetParam();
  ir::register_core_ops();
  for (const std::string& method : methods_for(name)) {
    SCOPED_TRACE(name + " " + method);
    auto [model, x] = test::import_traced_fixture(name);
    const at::Tensor dense = runtime::Executor(model).run1(x);
    const lowrank::DecomposeOptions o = full_rank(method);
    auto layers = lowrank::plan_layers(model, o);
    lowrank::rule_ranks_for(model, layers, o);
    const nlohmann::json rows = lowrank::apply_plan(model, layers, o);
    model.drop_unused_tensors();
    model.verify();
    int64_t decomposed = 0, grouped = 0;
    for (const auto& r : rows) {
      decomposed += r["status"] == "decomposed";
      grouped += r["status"] == "skipped";
    }
    for (const ir::Node* n : model.graph.nodes())
      if (n->op() == "conv2d" && n->scope().find(".lr") == std::string::npos)
        EXPECT_NE(n->attrs().i("groups", 1), 1) << n->scope() << " was not decomposed";
    const at::Tensor ours = runtime::Executor(model).run1(x);
    const double rel = (ours - dense).abs().max().item<double>() / dense.abs().max().item<double>();
    std::cout << "[ decompose ] " << name << " " << method << ": " << decomposed << " layers decomposed, " << grouped
              << " grouped skipped, max |diff| / max |y| = " << rel << "\n";
    EXPECT_GT(decomposed, 0);
    EXPECT_LE(rel, 1e-5);
    if (method == "tucker2") EXPECT_TRUE(test::export_matches_ort(model, x, ours, name + "_tucker2"));
  }
}

// Every torchvision fixture the tests build (each method runs a float64 SVD of every conv at full
// rank: resnet18 took 44 s on a quiet machine, 713 s on a loaded one).
INSTANTIATE_TEST_SUITE_P(Models, DecomposeTorchvision,
                         ::testing::Values("small_cnn", "resnet18", "mobilenet_v2", "mobilenet_v3_small",
                                           "efficientnet_b0", "shufflenet_v2_x0_5", "resnet50", "densenet121",
                                           "convnext_tiny"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace mc
