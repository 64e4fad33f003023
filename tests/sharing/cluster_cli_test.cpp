// The cluster stage through `compress` on the trained resnet8 fixture: option errors at `compress
// validate` (file:line:col, exit 2), model-dependent errors (globs, a layer clustered twice, a
// quantized weight) at validate and before a run writes anything (behind a prune: when the stage
// starts), prune -> cluster -> finetune
// keeping codebooks and zeros with the bytes in the report, and --resume after a kill between the
// cluster stage and the finetune, and after a kill in the middle of the codebook finetune, reaching
// the uninterrupted run's weights bit for bit.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "ir/model.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::read_json;
using mc::test::run_command;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {
// 8 lines: the first stage is on line 9.
std::string head(const std::string& model = mc::test::resnet8_fixture()) {
  return "name: cluster_test\nseed: 0\nthreads: 1\nmodel: {checkpoint: " + model +
         "}\ndata:\n  val: {dataset: fashion_mnist, limit: 500, batch_size: 500, transform: fmnist_eval}\n"
         "  train: {dataset: fashion_mnist, limit: 512, batch_size: 64, transform: fmnist_eval}\n"
         "stages:\n";
}
const std::string kReport = "report: {formats: [json], latency: false}\n";

int64_t distinct(const at::Tensor& t) { return std::get<0>(at::_unique(t)).numel(); }
}  // namespace

TEST(ClusterCli, OptionErrorsAtValidateWithLocations) {
  TempDir d;
  const std::vector<std::pair<std::string, std::string>> cases{
      {"  - cluster: {k: 1}", ".yaml:9:18: cluster.k must be in 2..256"},
      {"  - cluster: {k: 257}", ".yaml:9:18: cluster.k must be in 2..256 (codebook entries; an index fits in 8 bits), "
                                "got 257"},
      {"  - cluster: {bits: 0}", ".yaml:9:21: cluster.bits must be in 1..8 (a codebook of 2^bits entries), got 0"},
      {"  - cluster: {bits: 9}", ".yaml:9:21: cluster.bits must be in 1..8"},
      {"  - cluster: {bits: 4, k: 16}", ".yaml:9:24: cluster: give one of bits or k, not both"},
      {"  - cluster: {}", ".yaml:9:14: cluster needs the codebook size: bits (1..8) or k (2..256)"},
      {"  - cluster: {bits: 4, init: random}", "'stages.0.cluster.init' = 'random' is not one of"},
      {"  - cluster: {bits: 4, layers: {fc: {bits: 9}}}", ".yaml:9:44: cluster.layers.fc.bits must be in 1..8"},
      {"  - cluster: {bits: 4, layers: {fc: {k: 2, bits: 1}}}", "cluster.layers.fc: give one of bits or k"},
      {"  - cluster: {bits: 4, layers: {fc: 3}}", ".yaml:9:37: cluster.layers.fc must be a map, e.g. {bits: 2}"},
      {"  - cluster: {bits: 4, exclude: [\"layer[1\"]}", ".yaml:9:34: 'cluster.exclude' glob 'layer[1': '[' at column 6 has no closing ']'"},
  };
  int i = 0;
  for (const auto& [stage, part] : cases) {
    const std::string recipe = d.write("bad" + std::to_string(i++) + ".yaml", head() + stage + "\n" + kReport);
    const auto r = run_compress("validate " + recipe);
    EXPECT_EQ(r.exit_code, 2) << stage << "\n" << r.out;
    EXPECT_NE(r.out.find(part), std::string::npos) << stage << "\n" << r.out;
  }
}

// Errors that need the model come from `compress validate` (which loads it), and a run stops on
// them before it writes anything (no run directory).
TEST(ClusterCli, ModelDependentErrorsAtValidateAndBeforeARunWritesAnything) {
  TempDir d;
  // A PTQ-quantized checkpoint: its weights sit behind fake_quant.
  std::string ptq = head() + "  - quantize: {mode: ptq, weights: {bits: 8}}\n  - save: {path: " + d.file("q.mcm") +
                    "}\n" + kReport;
  ptq.replace(ptq.find("stages:"), 7, "  calib: {from: train, samples: 128}\nstages:");
  const auto q = run_compress("--recipe " + d.write("ptq.yaml", ptq) + " --out " + d.file("qrun") + " -q");
  ASSERT_EQ(q.exit_code, 0) << q.out;

  const std::pair<std::string, std::string> cases[] = {
      {head() + "  - cluster: {bits: 4, exclude: [\"layer9.*\"]}\n",
       ".yaml:9:34: cluster: exclude glob 'layer9.*' matches no weight layer"},
      {head() + "  - cluster: {bits: 4, layers: {\"layer3.*\": {bits: 2}, nothing: {k: 4}}}\n",
       ": cluster: layers glob 'nothing' matches no weight layer"},
      {head() + "  - cluster: {bits: 4, exclude: [fc]}\n  - finetune: {epochs: 1}\n"
                "  - cluster: {bits: 2, layers: {fc: {bits: 3}}}\n",
       ".yaml:11:5: cluster: layer 'conv1' is already clustered by stage 1 (cluster at "},
      {head() + "  - cluster: {bits: 4, exclude: [\"layer*\", \"conv1\"]}\n  - cluster: {bits: 2, layers: {fc: {bits: 3}}}\n",
       ".yaml:10:5: cluster: layer 'fc' is already clustered by stage 1"},
      {head(d.file("q.mcm")) + "  - cluster: {bits: 4}\n",
       ".yaml:9:5: cluster: layer 'conv1' has a quantized weight ('conv1.weight' behind a weight quantizer)"},
      {head() + "  - quantize: {mode: ptq, weights: {bits: 8}}\n  - cluster: {bits: 4}\n",
       ".yaml:11:5: cluster: stage 1 (quantize at "},  // line 11: the calib line comes first
  };
  int i = 0;
  for (const auto& [text, message] : cases) {
    std::string body = text;
    if (body.find("quantize") != std::string::npos)
      body.replace(body.find("stages:"), 7, "  calib: {from: train, samples: 128}\nstages:");
    const std::string recipe = d.write("case" + std::to_string(i++) + ".yaml", body + kReport);
    const auto v = run_compress("validate " + recipe);
    EXPECT_EQ(v.exit_code, 2) << v.out;
    EXPECT_NE(v.out.find(message), std::string::npos) << message << "\n" << v.out;
    const auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find(message), std::string::npos) << message << "\n" << r.out;
    EXPECT_FALSE(fs::exists(d.file("run"))) << "a run that fails its checks writes nothing\n" << text;
  }
}

// Behind a stage that may change the layers (prune), check_model is not reached: the second
// cluster stage finds the layer stored at 4 bits when it starts, with the same kind of error.
TEST(ClusterCli, ALayerStoredAtFewerBitsIsRefusedWhenTheStageStarts) {
  TempDir d;
  const std::string recipe = d.write("twice.yaml", head() + "  - cluster: {bits: 4}\n  - prune: {sparsity: 0.1}\n"
                                                           "  - cluster: {bits: 2, exclude: [conv1]}\n" + kReport);
  const auto v = run_compress("validate " + recipe);
  EXPECT_EQ(v.exit_code, 0) << v.out;
  const auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("twice.yaml:11:5: cluster: layer 'layer1.0.conv1' is already stored at 4 bits (clustered or "
                       "quantized by an earlier stage)"),
            std::string::npos)
      << r.out;
}

// decompose replaces a layer by factors, which would not be on the layer's codebook: a clustered
// layer is refused by name (it used to fail with exit 1 when the report measured the model: the
// clustered weight's storage bits named a tensor decompose had removed).
TEST(ClusterCli, DecomposeAfterClusterRefusesTheClusteredLayer) {
  TempDir d;
  const std::string recipe =
      d.write("cd.yaml", head() + "  - cluster: {bits: 4, layers: {fc: {k: 16}}}\n  - decompose: {rank_ratio: 0.5}\n" + kReport);
  const auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("decompose: layer 'conv1' is already stored at 4 bits (clustered or quantized by an earlier "
                       "stage); its factors would not be on its codebook or grid: decompose before `cluster` / "
                       "`quantize`, or exclude it (exclude: [conv1])"),
            std::string::npos)
      << r.out;
  // Excluding every clustered layer but one still names that one.
  const std::string two = d.write(
      "cd2.yaml", head() + "  - cluster: {bits: 4, layers: {fc: {k: 16}}}\n  - decompose: {rank_ratio: 0.5, exclude: "
                           "[conv1, layer1, layer2, layer3]}\n" + kReport);
  const auto r2 = run_compress("--recipe " + two + " --out " + d.file("run2") + " -q");
  EXPECT_EQ(r2.exit_code, 2) << r2.out;
  EXPECT_NE(r2.out.find("decompose: layer 'fc' is already stored at 4 bits"), std::string::npos) << r2.out;
}

namespace {
std::string pipeline_recipe() {
  return head() +
         "  - prune: {sparsity: 0.5, exclude: [conv1]}\n"
         "  - cluster: {bits: 4, exclude: [conv1], layers: {fc: {k: 32}}, per_channel: false}\n"
         "  - finetune: {epochs: 1, max_steps_per_epoch: 4, optimizer: {lr: 0.001, momentum: 0.9}}\n" +
         kReport;
}
}  // namespace

TEST(ClusterCli, PruneClusterFinetuneKeepsCodebooksZerosAndReportsBytes) {
  TempDir d;
  const std::string recipe = d.write("r.yaml", pipeline_recipe());
  const auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto report = read_json(d.file("run/report.json"));
  const auto& st = report["stages"][2];
  ASSERT_EQ(st["stage"], "cluster");
  const auto& det = st["details"];
  EXPECT_EQ(det["layers_clustered"], 9);
  int64_t fp32 = 0, clustered = 0;
  for (const auto& l : det["layers"]) {
    const int64_t k = l["k"], numel = l["bytes_fp32"].get<int64_t>() / 4;
    EXPECT_EQ(k, l["scope"] == "fc" ? 32 : 16) << l["scope"];
    EXPECT_EQ(l["index_bits"], l["scope"] == "fc" ? 5 : 4);
    EXPECT_TRUE(l["zero_entry"].get<bool>()) << "pruned before: zeros are an entry";
    EXPECT_GT(l["zeros_kept"].get<int64_t>(), 0);
    EXPECT_EQ(l["bytes_clustered"].get<int64_t>(), (numel * l["index_bits"].get<int64_t>() + 7) / 8 + 4 * k);
    EXPECT_GT(l["rel_error"].get<double>(), 0.0);
    EXPECT_LT(l["rel_error"].get<double>(), 0.2) << "16 entries: ~10 % (measured 0.10-0.15 dense)";
    fp32 += l["bytes_fp32"].get<int64_t>();
    clustered += l["bytes_clustered"].get<int64_t>();
  }
  EXPECT_EQ(det["bytes_fp32"], fp32);
  EXPECT_EQ(det["bytes_clustered"], clustered);
  EXPECT_LT(st["metrics"]["bytes_stored"].get<int64_t>(), report["stages"][1]["metrics"]["bytes_stored"].get<int64_t>() / 4)
      << "the report stores clustered weights at their index bits";

  const mc::ir::Model pruned = mc::ir::Model::load(d.file("run/ckpt/01_prune.mcm"));
  const mc::ir::Model after = mc::ir::Model::load(d.file("run/ckpt/03_finetune.mcm"));
  for (const auto& l : det["layers"]) {
    const std::string p = l["param"];
    const at::Tensor w = after.tensor(p);
    EXPECT_LE(distinct(w), l["k"].get<int64_t>()) << p << ": still on its codebook after the finetune";
    EXPECT_TRUE(w.eq(0).equal(pruned.tensor(p).eq(0))) << p << ": exactly the pruned weights are zero";
  }
  EXPECT_GT(distinct(after.tensor("conv1.weight")), 32) << "excluded: not clustered";
}

TEST(ClusterCli, ResumeAfterAKillBetweenClusterAndFinetuneGivesTheSameWeights) {
  TempDir d;
  const std::string recipe = d.write("r.yaml", pipeline_recipe());
  const auto whole = run_compress("--recipe " + recipe + " --out " + d.file("whole") + " -q");
  ASSERT_EQ(whole.exit_code, 0) << whole.out;
  // state.json is renamed after the load, the prune and the cluster stage: killed after the third.
  const auto killed = run_command("env LD_PRELOAD=" MC_KILL_SHIM " MC_KILL_AT_RENAME=state.json MC_KILL_COUNT=3 " +
                                  mc::test::compress_bin() + " --recipe " + recipe + " --out " + d.file("cut") + " -q");
  ASSERT_NE(killed.exit_code, 0) << killed.out;
  ASSERT_TRUE(fs::exists(d.file("cut/ckpt/02_pending_modifiers.pt")));
  ASSERT_FALSE(fs::exists(d.file("cut/ckpt/03_finetune.mcm")));
  const auto resumed = run_compress("--recipe " + recipe + " --out " + d.file("cut") + " --resume -q");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
  const mc::ir::Model a = mc::ir::Model::load(d.file("whole/ckpt/03_finetune.mcm"));
  const mc::ir::Model b = mc::ir::Model::load(d.file("cut/ckpt/03_finetune.mcm"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  // Bit for bit: one thread, the same seeds, a pending codebook state that round-trips exactly.
  for (const auto& [k, v] : a.tensors) EXPECT_TRUE(at::equal(v, b.tensors.at(k))) << k;
}

TEST(ClusterCli, ResumeAfterAKillInTheCodebookFinetuneGivesTheSameWeights) {
  // Two epochs: the run is killed when the finetune logs the end of its first epoch, with the
  // codebooks and the centroids' momentum already stepped. The resumed run starts that finetune
  // again from the cluster stage's pending codebook state (cluster indices, codebooks, zero
  // entries); a codebook state saved mid-finetune, or a momentum left over, would end elsewhere.
  TempDir d;
  const std::string recipe =
      d.write("r.yaml", head() + "  - prune: {sparsity: 0.5, exclude: [conv1]}\n"
                                 "  - cluster: {bits: 4, exclude: [conv1], layers: {fc: {k: 32}}}\n"
                                 "  - finetune: {epochs: 2, max_steps_per_epoch: 4, optimizer: {lr: 0.001, momentum: 0.9}}\n" +
                                 kReport);
  const auto whole = run_compress("--recipe " + recipe + " --out " + d.file("whole") + " -q");
  ASSERT_EQ(whole.exit_code, 0) << whole.out;
  // Not quiet: the kill waits for the log line of the first epoch.
  const auto killed = run_command("env LD_PRELOAD=" MC_KILL_SHIM " MC_KILL_AT_OUTPUT='finetune epoch 1/2' " +
                                  mc::test::compress_bin() + " --recipe " + recipe + " --out " + d.file("cut"));
  ASSERT_EQ(killed.exit_code, 128 + 9) << "not killed by SIGKILL: " << killed.out;
  EXPECT_EQ(read_json(d.file("cut/state.json"))["finished"].get<int>(), 2) << "killed elsewhere than in the finetune";
  ASSERT_FALSE(fs::exists(d.file("cut/ckpt/03_finetune.mcm")));
  const auto resumed = run_compress("--recipe " + recipe + " --out " + d.file("cut") + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
  EXPECT_NE(mc::read_file(d.file("cut/log.txt")).find("resuming 'cluster_test' after stage 2"), std::string::npos);
  const mc::ir::Model a = mc::ir::Model::load(d.file("whole/ckpt/03_finetune.mcm"));
  const mc::ir::Model b = mc::ir::Model::load(d.file("cut/ckpt/03_finetune.mcm"));
  const mc::ir::Model clustered = mc::ir::Model::load(d.file("whole/ckpt/02_cluster.mcm"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [k, v] : a.tensors) EXPECT_TRUE(at::equal(v, b.tensors.at(k))) << k;
  const auto ra = read_json(d.file("whole/report.json")), rb = read_json(d.file("cut/report.json"));
  int64_t moved = 0;
  for (const auto& l : ra["stages"][2]["details"]["layers"]) {
    const std::string p = l["param"];
    moved += !at::equal(a.tensor(p), clustered.tensor(p));
  }
  EXPECT_EQ(moved, 9) << "every clustered weight's codebook should move in the finetune, or the test means little";
  EXPECT_EQ(ra["stages"][3]["metrics"]["top1"], rb["stages"][3]["metrics"]["top1"]);
}
