// Structured channel pruning on torchvision models (fixtures of tests/fixtures/make_torchvision.py):
// 30% of the channels of every prunable group go; the pruned model runs, its MACs fall, its ONNX
// export passes the checker and runs in ONNX Runtime with our executor's outputs; at ratio 0 the
// whole stage path (analysis, scoring, attribute updates, shape inference) leaves outputs unchanged.
// Label "slow".
#include <gtest/gtest.h>

#include <filesystem>

#include "data/npy.h"
#include "export/onnx_export.h"
#include "frontend/frontend.h"
#include "frontend/torchscript_test_util.h"
#include "pruning/channel_prune.h"
#include "runtime/executor.h"
#include "export/export_test_util.h"
#include "support/test_env.h"

namespace mc {
namespace {

class PruneTorchvision : public ::testing::TestWithParam<std::string> {};

TEST_P(PruneTorchvision, ThirtyPercentOfChannelsShrinksAndMatchesOrt) {
  const std::string name = GetParam();
  auto [model, x] = test::import_traced_fixture(name);
  const at::Tensor dense = runtime::Executor(model).run1(x);

  // Ratio 0: unchanged.
  prune::ChannelPruneOptions zero;
  zero.ratio = 0;
  ir::Model same = model.clone();
  auto d0 = prune::prune_channels(same, zero);
  EXPECT_EQ(d0["channels_removed"].get<int64_t>(), 0);
  EXPECT_GT(d0["channels_total"].get<int64_t>(), 0);
  EXPECT_LE((runtime::Executor(same).run1(x) - dense).abs().max().item<double>(), 1e-6);

  prune::ChannelPruneOptions opt;
  opt.ratio = 0.3;
  opt.criterion = "l1";
  auto d = prune::prune_channels(model, opt);
  std::cout << "[ prune ] " << name << ": " << d.dump() << "\n";
  EXPECT_GT(d["channels_removed"].get<int64_t>(), 0);
  EXPECT_LT(d["macs_after"].get<int64_t>(), d["macs_before"].get<int64_t>());
  EXPECT_LT(d["params_after"].get<int64_t>(), d["params_before"].get<int64_t>());
  EXPECT_EQ(prune::model_macs(model), d["macs_after"].get<int64_t>());
  const at::Tensor ours = runtime::Executor(model).run1(x);
  ASSERT_EQ(ours.sizes(), dense.sizes());
  EXPECT_TRUE(at::isfinite(ours).all().item<bool>());

  EXPECT_TRUE(test::export_matches_ort(model, x, ours, name));
}

INSTANTIATE_TEST_SUITE_P(Models, PruneTorchvision,
                         ::testing::Values("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "densenet121",
                                           "shufflenet_v2_x0_5", "efficientnet_b0"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace mc
