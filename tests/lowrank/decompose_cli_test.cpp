// The decompose stage through `compress`: recipe errors at `compress validate` (file:line:col,
// exit 2), a MACs target on the trained resnet8 fixture landing within 3 % with the search in the
// report and the export matching ONNX Runtime, and decompose -> prune_channels on the factor chains.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>

#include "export/onnx_export.h"
#include "ir/model.h"
#include "runtime/executor.h"
#include "support/test_env.h"
#include "../export/export_test_util.h"

namespace fs = std::filesystem;
using mc::test::read_json;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {
std::string head() {
  return "name: decompose_test\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + mc::test::resnet8_fixture() +
         "}\ndata:\n  val: {dataset: fashion_mnist, limit: 500, batch_size: 500, transform: fmnist_eval}\n"
         "  train: {dataset: fashion_mnist, batch_size: 64, transform: fmnist_eval}\n"
         "  calib: {from: train, samples: 128}\n"
         "stages:\n";
}
}  // namespace

TEST(DecomposeCli, OptionErrorsAtValidateWithLocations) {
  TempDir d;
  const std::vector<std::pair<std::string, std::string>> cases{
      {"  - decompose: {energy: 1.5}", ":10:25: decompose.energy must be in (0, 1], got 1.5"},
      {"  - decompose: {energy: 0}", ":10:25: decompose.energy must be in (0, 1]"},
      {"  - decompose: {method: svd, rank: 4}", ":10:25: 'stages.0.decompose.method' = 'svd' is not one of"},
      {"  - decompose: {rank: 4, rank_ratio: 0.5}", "two rank rules at once ('rank' and 'rank_ratio')"},
      {"  - decompose: {method: cp, vbmf: true}", "vbmf applies to method tucker2 only"},
      {"  - decompose: {method: cp, energy: 0.9}", "energy does not apply to method cp"},
      {"  - decompose: {rank_ratio: 0.5, target: {macs: 0.5}}", "'rank_ratio' and 'target' both choose ranks"},
      {"  - decompose: {target: {macs: 1.5}}", "decompose.target.macs is the fraction of the model kept"},
      {"  - decompose: {method: channel_svd, rank: [2, 3]}", "a rank pair [r_in, r_out] applies to method tucker2 only"},
      {"  - decompose: {rank_ratio: 0.5, layers: {\"layer3.*\": {method: cp, vbmf: true}}}",
       "decompose.layers.layer3.*: vbmf applies to method tucker2 only"},
      {"  - decompose: {}", "decompose needs a rank rule"},
  };
  int i = 0;
  for (const auto& [stage, part] : cases) {
    const std::string name = "bad" + std::to_string(i++) + ".yaml";
    const std::string recipe = d.write(name, head() + stage + "\n");
    const auto r = run_compress("validate " + recipe);
    EXPECT_EQ(r.exit_code, 2) << stage << "\n" << r.out;
    EXPECT_NE(r.out.find(part), std::string::npos) << stage << "\n" << r.out;
  }
}

// Model-dependent errors (a rank above what a layer allows, a glob matching no decomposable layer)
// come from `compress validate` (which loads the model), and a run stops on them before it writes
// anything (no run directory).
TEST(DecomposeCli, ModelDependentErrorsAtValidateAndBeforeARunWritesAnything) {
  TempDir d;
  const std::string big = d.write("big.yaml", head() + "  - decompose: {method: channel_svd, rank: 64, exclude: [conv1]}\n");
  const std::string glob = d.write("glob.yaml", head() + "  - decompose: {rank_ratio: 0.5, exclude: [\"layer9.*\"]}\n");
  const std::pair<std::string, std::string> cases[] = {
      {big, "big.yaml:10:44: decompose: layer 'layer1.0.conv1' (16x16x3x3 conv): rank [64] exceeds the maximum [16] "
            "of channel_svd"},
      {glob, "glob.yaml:10:44: decompose: exclude glob 'layer9.*' matches no weight layer"}};
  for (const auto& [recipe, message] : cases) {
    const auto v = run_compress("validate " + recipe);
    EXPECT_EQ(v.exit_code, 2) << v.out;
    EXPECT_NE(v.out.find(message), std::string::npos) << v.out;
    const auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find(message), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(d.file("run"))) << "a run that fails its checks writes nothing";
  }
}

TEST(DecomposeCli, MacsTargetLandsWithinThreePercentAndMatchesOrt) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  TempDir d;
  const std::string recipe = d.write("t.yaml", head() + R"(  - decompose: {method: tucker2, target: {macs: 0.5}, exclude: [conv1, fc], calib_batches: 1}
  - export: {onnx: t.onnx, ort_eval: false}
report: {latency: false}
)");
  const auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto rep = read_json(d.file("run/report.json"));
  const auto& det = rep["stages"][1]["details"];
  const double landed = det["macs_after"].get<double>() / det["macs_before"].get<double>();
  EXPECT_LE(landed, 0.5);
  EXPECT_GE(landed, 0.5 * 0.97) << det["search"].dump(1);
  EXPECT_EQ(det["search"]["measure"], "macs");
  EXPECT_GE(det["search"]["layers"].size(), 8u);
  for (const auto& l : det["search"]["layers"]) EXPECT_GE(l["candidates"].size(), 3u) << l;
  EXPECT_GE(det["layers_decomposed"].get<int64_t>(), 5);
  // The decomposed model in ONNX Runtime gives our executor's outputs.
  mc::ir::Model m = mc::ir::Model::load(d.file("run/ckpt/01_decompose.mcm"));
  at::manual_seed(0);
  const at::Tensor x = at::randn({4, 1, 28, 28});
  const at::Tensor ours = mc::runtime::Executor(m).run1(x);
  const at::Tensor ort = mc::test::run_ort(d.file("run/t.onnx"), x);
  ASSERT_TRUE(ort.defined());
  EXPECT_LE((ort - ours).abs().max().item<double>() / ours.abs().max().item<double>(), 1e-4);
}

TEST(DecomposeCli, PruneChannelsFollowsTheFactorChains) {
  TempDir d;
  const std::string simple = d.write("chain2.yaml", head() + R"(  - decompose: {method: tucker2, rank_ratio: 0.5, exclude: [conv1, fc]}
  - prune_channels: {criterion: l1, ratio: 0.3, target: macs, scope: uniform}
report: {latency: false}
)");
  const auto r = run_compress("--recipe " + simple + " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto rep = read_json(d.file("run/report.json"));
  const auto& st = rep["stages"];
  EXPECT_GT(st[2]["details"]["channels_removed"].get<int64_t>(), 0) << st[2]["details"].dump();
  EXPECT_LE(st[2]["metrics"]["macs"].get<double>(), 0.7 * st[1]["metrics"]["macs"].get<double>() + 1);
}
