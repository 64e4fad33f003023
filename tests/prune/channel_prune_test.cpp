// The prune_channels stage end to end through `compress` on the trained resnet8 fixture
// (Fashion-MNIST): MACs halve, fine-tuning recovers accuracy, the export runs in ONNX Runtime
// with our executor's outputs; option and input errors are located and exit 2.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "data/npy.h"
#include "ir/model.h"
#include "runtime/executor.h"
#include "export/export_test_util.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::read_json;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {

std::string recipe_head(const std::string& val_limit) {
  return "name: prune_channels_test\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + mc::test::resnet8_fixture() +
         "}\ndata:\n  train: {dataset: fashion_mnist, batch_size: 128, transform: fmnist_train}\n"
         "  val: {dataset: fashion_mnist, limit: " + val_limit + ", batch_size: 500, transform: fmnist_eval}\n"
         "  calib: {from: train, samples: 256}\n";
}

// The exported file in ONNX Runtime computes what our executor computes on the pruned model, on 4
// random 28x28 images: float32 kernels that differ in summation order (conv/GEMM, LayerNorm) agree
// to ~1e-6 relative here; 1e-4 leaves a margin.
void expect_ort_matches(mc::ir::Model& pruned, const std::string& onnx) {
  at::manual_seed(0);
  at::Tensor x = at::randn({4, 1, 28, 28});
  at::Tensor ours = mc::runtime::Executor(pruned).run1(x);
  at::Tensor theirs = mc::test::run_ort(onnx, x);
  ASSERT_TRUE(theirs.defined());
  ASSERT_EQ(theirs.sizes(), ours.sizes());
  EXPECT_LE((theirs - ours).abs().max().item<double>(), 1e-4 * ours.abs().max().item<double>());
}

}  // namespace

TEST(ChannelPruneE2E, Resnet8HalfTheMacsRecoversWithFinetuneAndMatchesOrt) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  TempDir d;
  std::string recipe = d.write("r.yaml", recipe_head("2000") + R"(stages:
  - prune_channels: {criterion: l1, ratio: 0.5, target: macs, scope: uniform}
  - finetune: {epochs: 1, max_steps_per_epoch: 300, optimizer: {type: sgd, lr: 0.02, momentum: 0.9},
               schedule: {type: cosine}}
  - export: {onnx: pruned.onnx}
report: {latency: false}
)");
  auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = read_json(d.file("run/report.json"));
  auto& st = rep["stages"];
  const double dense_top1 = st[0]["metrics"]["top1"].get<double>();
  const double pruned_top1 = st[1]["metrics"]["top1"].get<double>();
  const double tuned_top1 = st[2]["metrics"]["top1"].get<double>();
  const double macs0 = st[0]["metrics"]["macs"].get<double>(), macs1 = st[1]["metrics"]["macs"].get<double>();
  EXPECT_LE(macs1, 0.5 * macs0) << macs1 << " vs " << macs0;
  EXPECT_LT(st[1]["metrics"]["params"].get<double>(), st[0]["metrics"]["params"].get<double>());
  EXPECT_GT(st[1]["details"]["channels_removed"].get<int64_t>(), 0);
  EXPECT_GT(dense_top1, 0.8);
  // Pruning half the MACs hurts; 300 steps of fine-tuning recover most of it.
  EXPECT_LT(pruned_top1, dense_top1 - 0.05) << pruned_top1;
  EXPECT_GT(tuned_top1, pruned_top1 + 0.05) << pruned_top1 << " -> " << tuned_top1;
  EXPECT_GT(tuned_top1, dense_top1 - 0.04) << tuned_top1 << " vs dense " << dense_top1;

  // The exported ONNX computes what our executor computes on the pruned model.
  mc::ir::Model pruned = mc::ir::Model::load(d.file("run/ckpt/03_export.mcm"));
  expect_ort_matches(pruned, d.file("run/pruned.onnx"));
}

TEST(ChannelPruneE2E, TaylorOnCalibDataGlobalRoundedCounts) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture()));
  TempDir d;
  std::string recipe = d.write("r.yaml", recipe_head("500") + R"(stages:
  - prune_channels: {criterion: taylor, ratio: 0.4, scope: global, round_to: 4, calib_batches: 2,
                     exclude: ["layer3.*"]}
  - save: {path: pruned.mcm}
report: {latency: false}
)");
  auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = read_json(d.file("run/report.json"));
  EXPECT_LT(rep["stages"][1]["metrics"]["macs"].get<double>(), rep["stages"][0]["metrics"]["macs"].get<double>());
  mc::ir::Model p = mc::ir::Model::load(d.file("run/pruned.mcm"));
  for (const auto& [name, t] : p.tensors) {
    if (t.dim() != 4) continue;
    if (name.rfind("layer3.", 0) == 0) {
      EXPECT_EQ(t.size(0), 64) << name;  // excluded group kept whole
    } else {
      EXPECT_EQ(t.size(0) % 4, 0) << name;  // round_to: 4
    }
  }
}

// The zoo ViT's embedding width (the residual stream through every LayerNorm) pruned with
// through_layer_norm: 64 -> 48 channels everywhere; the export runs in ONNX Runtime with our outputs.
TEST(ChannelPruneE2E, VitTinyEmbeddingWidthThroughLayerNormMatchesOrt) {
  TempDir d;
  std::string recipe = d.write("r.yaml", R"(name: vit_width
seed: 0
threads: 2
model: {zoo: vit_tiny, num_classes: 10, input: {shape: [1, 1, 28, 28]}}
stages:
  - prune_channels: {criterion: l1, ratio: 0.25, through_layer_norm: true, exclude: ["blocks.*.attn.qkv", "blocks.*.mlp.fc1"]}
  - export: {onnx: pruned.onnx, ort_eval: false}
report: {latency: false}
)");
  auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = read_json(d.file("run/report.json"));
  EXPECT_EQ(rep["stages"][1]["details"]["channels_removed"].get<int64_t>(), 16) << "a quarter of the width 64";
  mc::ir::Model pruned = mc::ir::Model::load(d.file("run/ckpt/02_export.mcm"));
  int norms = 0;
  for (const mc::ir::Node* n : pruned.graph.nodes())
    if (n->op() == "layer_norm") {
      ++norms;
      EXPECT_EQ(n->attrs().is("normalized_shape"), (std::vector<int64_t>{48})) << n->scope();
    }
  EXPECT_EQ(norms, 9) << "two per block and the final norm";
  EXPECT_EQ(pruned.tensors.at("head.weight").sizes(), (std::vector<int64_t>{10, 48}));
  expect_ort_matches(pruned, d.file("run/pruned.onnx"));
}

TEST(ChannelPruneE2E, BadOptionsAndInputsAreLocatedErrors) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture()));
  TempDir d;
  auto run_stage = [&](const std::string& name, const std::string& stage) {
    std::string recipe = d.write(name + ".yaml", recipe_head("500") + "stages:\n  - prune_channels: " + stage +
                                                      "\nreport: {latency: false}\n");
    return run_compress("--recipe " + recipe + " --out " + d.file(name) + " -q");
  };
  auto typo = run_stage("typo", "{critrion: l1}");
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.out.find("did you mean 'criterion'"), std::string::npos) << typo.out;
  EXPECT_NE(typo.out.find("typo.yaml:10:"), std::string::npos) << typo.out;
  auto range = run_stage("range", "{ratio: 1.5}");
  EXPECT_EQ(range.exit_code, 2);
  EXPECT_NE(range.out.find("ratio"), std::string::npos) << range.out;
  auto glob = run_stage("glob", "{exclude: [\"layer9.*\"]}");
  EXPECT_EQ(glob.exit_code, 2);
  EXPECT_NE(glob.out.find("'layer9.*' matches no layer scope"), std::string::npos) << glob.out;
  EXPECT_NE(glob.out.find("glob.yaml:10:"), std::string::npos) << glob.out;
  // After fold_batch_norm there is no BatchNorm left: bn_scale has nothing to rank.
  auto bn = run_stage("bn", "{}\n  - fold_batch_norm: {}\n  - prune_channels: {criterion: bn_scale}");
  EXPECT_EQ(bn.exit_code, 2);
  EXPECT_NE(bn.out.find("needs BatchNorm layers"), std::string::npos) << bn.out;
  for (const char* n : {"typo", "range", "glob", "bn"}) EXPECT_FALSE(fs::exists(d.file(std::string(n) + "/model.onnx")));
}
