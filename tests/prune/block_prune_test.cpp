// The prune_blocks stage (depth pruning) through `compress`: on the trained resnet8 fixture the
// identity block layer1.0 goes, the MACs fall by exactly its MACs and the exported ONNX computes our
// executor's outputs in ONNX Runtime; with `count` on a ResNet-20 the blocks are ranked by their
// calib loss increase; bad options are located errors with exit 2 and no exported model.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "data/npy.h"
#include "export/export_test_util.h"
#include "ir/model.h"
#include "prune_test_util.h"
#include "runtime/executor.h"

namespace fs = std::filesystem;
using mc::test::read_json;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {
std::string recipe(const std::string& model, const std::string& stages, int val_limit = 500) {
  return "name: prune_blocks_test\nseed: 0\nthreads: 2\nmodel: " + model +
         "\ndata:\n  train: {dataset: fashion_mnist, limit: 2000, batch_size: 128, transform: fmnist_train}\n"
         "  val: {dataset: fashion_mnist, limit: " + std::to_string(val_limit) +
         ", batch_size: 500, transform: fmnist_eval}\n"
         "  calib: {from: train, samples: 256}\n"
         "stages:\n" + stages + "report: {formats: [json], latency: false}\n";
}
std::string resnet8() { return "{checkpoint: " + mc::test::resnet8_fixture() + "}"; }
}  // namespace

TEST(PruneBlocksE2E, Resnet8IdentityBlockGoesAndTheExportMatchesOrt) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  TempDir d;
  const std::string r = d.write("r.yaml", recipe(resnet8(), "  - prune_blocks: {blocks: [\"layer1.*\"]}\n"
                                                            "  - export: {onnx: blocks.onnx}\n"));
  auto res = run_compress("--recipe " + r + " --out " + d.file("run") + " -q");
  ASSERT_EQ(res.exit_code, 0) << res.out;
  auto rep = read_json(d.file("run/report.json"));
  const auto& det = rep["stages"][1]["details"];
  ASSERT_EQ(det["candidates"].size(), 1u) << det.dump();  // layer2.0 and layer3.0 have projection shortcuts
  EXPECT_EQ(det["candidates"][0]["block"], "layer1.0");
  EXPECT_EQ(det["removed"], nlohmann::json::array({"layer1.0"}));
  const int64_t block_macs = det["candidates"][0]["macs"].get<int64_t>();
  EXPECT_GT(block_macs, 3000000);  // two 16x16 3x3 convs at 28x28: 3.6M MACs (and BN folded)
  EXPECT_EQ(det["macs_after"].get<int64_t>(), det["macs_before"].get<int64_t>() - block_macs);
  EXPECT_EQ(rep["stages"][1]["metrics"]["macs"].get<int64_t>(), det["macs_after"].get<int64_t>());
  EXPECT_LT(rep["stages"][1]["metrics"]["top1"].get<double>(), rep["stages"][0]["metrics"]["top1"].get<double>());

  mc::ir::Model pruned = mc::ir::Model::load(d.file("run/ckpt/02_export.mcm"));
  for (const auto& [name, t] : pruned.tensors) EXPECT_NE(name.rfind("layer1.", 0), 0u) << name << " survived";
  at::manual_seed(0);
  at::Tensor x = at::randn({4, 1, 28, 28});
  at::Tensor ours = mc::runtime::Executor(pruned).run1(x);
  at::Tensor theirs = mc::test::run_ort(d.file("run/blocks.onnx"), x);
  ASSERT_TRUE(theirs.defined());
  ASSERT_EQ(theirs.sizes(), ours.sizes());
  EXPECT_LE((theirs - ours).abs().max().item<double>(), 1e-4 * ours.abs().max().item<double>());
}

TEST(PruneBlocksE2E, CountRanksResnet20BlocksByCalibLoss) {
  TempDir d;
  const std::string model = "{zoo: resnet20, num_classes: 10, input: {shape: [1, 1, 28, 28]}}";
  // Freshly initialised weights rank as well as trained ones: the check is that the stage removes
  // what its own measurements rank lowest.
  const std::string r = d.write("r.yaml", recipe(model, "  - prune_blocks: {count: 2, batches: 1}\n", 100));
  auto res = run_compress("--recipe " + r + " --out " + d.file("run") + " -q");
  ASSERT_EQ(res.exit_code, 0) << res.out;
  const nlohmann::json rep = read_json(d.file("run/report.json"));
  const nlohmann::json& det = rep["stages"][1]["details"];
  // ResNet-20: 3 blocks per stage, the first of stages 2 and 3 has a projection: 7 identity blocks.
  ASSERT_EQ(det["candidates"].size(), 7u) << det.dump();
  EXPECT_EQ(det["candidates"][0]["block"], "layer1.0");
  EXPECT_EQ(det["candidates"][3]["block"], "layer2.1");
  std::vector<double> kept, removed;
  for (const auto& c : det["candidates"])
    (c["removed"].get<bool>() ? removed : kept).push_back(c["calib_loss_increase"].get<double>());
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_LE(*std::max_element(removed.begin(), removed.end()), *std::min_element(kept.begin(), kept.end()))
      << "the removed blocks must be those whose removal raises the calib loss least";
  EXPECT_EQ(det["removed"].size(), 2u);
}

TEST(PruneBlocksE2E, BadOptionsAreLocatedErrorsWithNoExport) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture()));
  TempDir d;
  auto run_stage = [&](const std::string& name, const std::string& stage) {
    const std::string r = d.write(name + ".yaml", recipe(resnet8(), "  - prune_blocks: " + stage +
                                                                        "\n  - export: {onnx: m.onnx}\n"));
    return run_compress("--recipe " + r + " --out " + d.file(name) + " -q");
  };
  struct Case {
    const char* name;
    const char* stage;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {"projection", "{blocks: [layer2.0]}",
       {"projection.yaml:10:", "'layer2.0' matches no removable residual block", "removable residual blocks are: layer1.0"}},
      {"neither", "{}", {"neither.yaml:10:", "needs `blocks: [scope glob, ...]`"}},
      {"both", "{blocks: [layer1.0], count: 1}", {"both.yaml:10:", "either `blocks` or `count`"}},
      {"count", "{count: 2}", {"count 2 but the model has only 1 removable blocks: layer1.0"}},
      {"typo", "{block: [layer1.0]}", {"typo.yaml:10:", "did you mean 'blocks'"}},
  };
  for (const Case& c : cases) {
    auto r = run_stage(c.name, c.stage);
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.out;
    for (const std::string& s : c.says) EXPECT_NE(r.out.find(s), std::string::npos) << c.name << ": " << r.out;
    EXPECT_FALSE(fs::exists(d.file(std::string(c.name) + "/m.onnx"))) << c.name;
  }
}
