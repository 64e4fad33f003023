// Depth pruning on torchvision models: the identity-shortcut residual blocks are exactly those the
// architectures define (ResNet-18: the first block of layer1 and the second of each stage;
// MobileNetV2: the stride-1 inverted residuals with equal in/out channels, 10 of them); removing all
// of them leaves a model that runs, has the blocks' MACs fewer, and whose ONNX export passes the
// checker and computes our executor's outputs in ONNX Runtime. Label "slow".
#include <gtest/gtest.h>

#include "export/export_test_util.h"
#include "frontend/torchscript_test_util.h"
#include "pruning/channel_prune.h"
#include "pruning/residual_blocks.h"
#include "runtime/executor.h"
#include "support/test_env.h"

namespace mc {
namespace {

void expect_blocks_removable(const std::string& name, const std::vector<std::string>& expected) {
  auto [model, x] = test::import_traced_fixture(name);
  const auto blocks = prune::find_residual_blocks(model);
  std::vector<std::string> scopes;
  int64_t block_macs = 0;
  for (const auto& b : blocks) scopes.push_back(b.scope), block_macs += b.macs;
  EXPECT_EQ(scopes, expected);
  const int64_t macs0 = prune::model_macs(model);
  const at::Tensor dense = runtime::Executor(model).run1(x);
  for (const auto& b : blocks) prune::remove_residual_block(model, b);
  EXPECT_EQ(prune::model_macs(model), macs0 - block_macs);
  const at::Tensor ours = runtime::Executor(model).run1(x);
  ASSERT_EQ(ours.sizes(), dense.sizes());
  EXPECT_TRUE(at::isfinite(ours).all().item<bool>());
  EXPECT_TRUE(test::export_matches_ort(model, x, ours, name));
}

TEST(PruneBlocksTorchvision, Resnet18) {
  expect_blocks_removable("resnet18", {"layer1.0", "layer1.1", "layer2.1", "layer3.1", "layer4.1"});
}

TEST(PruneBlocksTorchvision, MobilenetV2) {
  expect_blocks_removable("mobilenet_v2", {"features.3", "features.5", "features.6", "features.8", "features.9",
                                           "features.10", "features.12", "features.13", "features.15",
                                           "features.16"});
}

}  // namespace
}  // namespace mc
