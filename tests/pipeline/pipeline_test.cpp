// End-to-end recipe runs through the `compress` binary on real Fashion-MNIST data.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "ir/model.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::run_command;
using mc::test::read_json;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {

bool has_temp_files(const std::string& dir) {
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

const char* kLenetRecipe = R"(name: lenet_quick
seed: 1
threads: 2
model: {zoo: lenet5, input: {shape: [1, 1, 28, 28]}}
data:
  train: {dataset: fashion_mnist, limit: 4000, batch_size: 64, transform: fmnist_eval}
  val: {dataset: fashion_mnist, limit: 1000, batch_size: 500, transform: fmnist_eval}
stages:
  - train: {epochs: 2, optimizer: {lr: 0.05}}
  - evaluate: {}
  - fold_batch_norm: {}
  - save: {path: lenet.mcm}
report: {latency_batches: [1, 8], latency_repeats: 3}
)";
}  // namespace

TEST(Pipeline, RecipeRunsEndToEndWithReportAndCheckpoints) {
  TempDir d;
  std::string recipe = d.write("lenet.yaml", kLenetRecipe);
  std::string out = d.file("run");
  auto r = run_compress("--recipe " + recipe + " --out " + out + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;

  auto rep = read_json(out + "/report.json");
  ASSERT_EQ(rep["stages"].size(), 5u) << rep.dump(2);  // load + 4 stages
  EXPECT_EQ(rep["stages"][0]["stage"], "load");
  EXPECT_EQ(rep["stages"][1]["stage"], "train");
  double before = rep["stages"][0]["metrics"]["top1"].get<double>();
  double after = rep["stages"][1]["metrics"]["top1"].get<double>();
  EXPECT_LT(before, 0.3);  // fresh initialisation
  EXPECT_GT(after, 0.6);   // two epochs on 4000 samples
  EXPECT_EQ(rep["stages"][1]["details"]["epochs"].size(), 2u);
  EXPECT_NEAR(rep["stages"][2]["details"]["top1"].get<double>(), after, 1e-9);
  EXPECT_GT(rep["stages"][1]["metrics"]["latency_ms"]["8"].get<double>(), 0.0);
  EXPECT_EQ(rep["stages"][1]["metrics"]["params"].get<int64_t>(), rep["stages"][0]["metrics"]["params"].get<int64_t>());
  EXPECT_TRUE(fs::exists(out + "/report.md"));
  EXPECT_TRUE(fs::exists(out + "/report.html"));  // html is one of the default formats
  EXPECT_TRUE(fs::exists(out + "/log.txt"));
  EXPECT_TRUE(fs::exists(out + "/ckpt/01_train.mcm"));
  EXPECT_FALSE(has_temp_files(out));

  // The effective recipe has every default filled in.
  std::string eff = mc::read_file(out + "/recipe.yaml");
  EXPECT_NE(eff.find("momentum"), std::string::npos) << eff;
  EXPECT_NE(eff.find("lr: 0.05"), std::string::npos) << eff;

  // The saved checkpoint reloads and evaluates to the same accuracy.
  mc::ir::Model m = mc::ir::Model::load(out + "/lenet.mcm");
  EXPECT_GT(m.num_params(), 40000);
  auto ev = run_compress("eval " + out + "/lenet.mcm --data fashion_mnist --split test --limit 1000");
  EXPECT_EQ(ev.exit_code, 0) << ev.out;
}

TEST(Pipeline, DryRunValidatesAndPrintsTheEffectiveRecipe) {
  TempDir d;
  std::string recipe = d.write("lenet.yaml", kLenetRecipe);
  auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " --dry-run --set stages.0.train.epochs=7");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("epochs: 7"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(d.file("run")));
}

TEST(Pipeline, StageErrorsAreAllReportedWithLocations) {
  TempDir d;
  std::string recipe = d.write("bad.yaml", R"(name: bad
model: {zoo: lenet5}
data:
  train: {dataset: fashion_mnist}
stages:
  - trian: {epochs: 1}
  - finetune: {epochs: zero, optimizer: {lr: -1, typo: 3}}
  - evaluate: {split: val}
)");
  auto r = run_compress("validate " + recipe);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(recipe + ":6:5: unknown stage 'trian' (did you mean 'train'?)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(recipe + ":7:24: 'stages.1.finetune.epochs' must be an integer"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'stages.1.finetune.optimizer.lr' = -1 is out of range"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown key 'typo' in 'stages.1.finetune.optimizer'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(recipe + ":8:5: stage 'evaluate' needs 'data.val'"), std::string::npos) << r.out;
  // The same through the run command: nothing is created.
  auto run = run_compress("--recipe " + recipe + " --out " + d.file("run"));
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_FALSE(fs::exists(d.file("run")));
}

TEST(Pipeline, MissingDatasetIsACleanError) {
  TempDir d;
  std::string recipe = d.write("r.yaml", "model: {zoo: lenet5}\ndata:\n  train: {dataset: mnist, path: " + d.file("nope") +
                                              "}\nstages: [train]\n");
  auto r = run_compress("--recipe " + recipe + " --out " + d.file("run"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(recipe + ":3:10:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nope"), std::string::npos) << r.out;
}

TEST(Pipeline, ResumeContinuesAfterTheLastFinishedStage) {
  TempDir d;
  std::string target = d.file("later/model.mcm");  // its directory does not exist yet
  std::string recipe = d.write("r.yaml", std::string(R"(name: resumable
seed: 2
model: {zoo: lenet5, input: {shape: [1, 1, 28, 28]}}
data:
  train: {dataset: fashion_mnist, limit: 1000, batch_size: 100, transform: fmnist_eval}
stages:
  - train: {epochs: 1}
  - save: {path: )") + target + R"(}
report: {latency: false}
)");
  std::string out = d.file("run");
  auto first = run_compress("--recipe " + recipe + " --out " + out);
  EXPECT_EQ(first.exit_code, 2) << first.out;  // the save stage cannot write
  EXPECT_FALSE(fs::exists(target));
  EXPECT_FALSE(has_temp_files(d.path()));
  auto state = read_json(out + "/state.json");
  EXPECT_EQ(state["finished"], 1);
  std::string trained = mc::read_file(out + "/ckpt/01_train.mcm");

  fs::create_directories(d.file("later"));
  auto second = run_compress("--recipe " + recipe + " --out " + out + " --resume");
  ASSERT_EQ(second.exit_code, 0) << second.out;
  EXPECT_NE(mc::read_file(out + "/log.txt").find("resuming 'resumable' after stage 1"), std::string::npos);
  EXPECT_EQ(mc::read_file(out + "/ckpt/01_train.mcm"), trained);  // train did not run again
  EXPECT_TRUE(fs::exists(target));
  auto rep = read_json(out + "/report.json");
  ASSERT_EQ(rep["stages"].size(), 3u);
  EXPECT_EQ(rep["stages"][2]["stage"], "save");

  // A changed recipe refuses to resume.
  auto changed = run_compress("--recipe " + recipe + " --out " + out + " --resume --set seed=3");
  EXPECT_EQ(changed.exit_code, 2);
  EXPECT_NE(changed.out.find("recipe changed"), std::string::npos) << changed.out;
}

TEST(Pipeline, FinetunesATorchScriptModelTracedInPython) {
  TempDir d;
  std::string pt = d.file("net.pt");
  auto gen = run_command("/usr/bin/python3 -c \""
                         "import torch, torch.nn as nn\n"
                         "torch.manual_seed(0)\n"
                         "m = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),"
                         " nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 7 * 7, 10)).eval()\n"
                         "torch.jit.trace(m, torch.zeros(1, 1, 28, 28)).save('" + pt + "')\"");
  ASSERT_EQ(gen.exit_code, 0) << gen.out;
  std::string recipe = d.write("ft.yaml", R"(name: ts_finetune
model: {torchscript: net.pt, input: {shape: [1, 1, 28, 28]}}
data:
  train: {dataset: fashion_mnist, limit: 3000, batch_size: 50, transform: fmnist_eval}
  val: {dataset: fashion_mnist, limit: 1000, batch_size: 500, transform: fmnist_eval}
stages:
  - finetune: {epochs: 2, optimizer: {lr: 0.05}}
report: {latency: false}
)");
  auto r = run_compress("--recipe " + recipe + " --out " + d.file("run"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = read_json(d.file("run/report.json"));
  double before = rep["stages"][0]["metrics"]["top1"].get<double>();
  double after = rep["stages"][1]["metrics"]["top1"].get<double>();
  EXPECT_LT(before, 0.3);
  EXPECT_GT(after, before + 0.3);
  std::string md = mc::read_file(d.file("run/report.md"));
  EXPECT_NE(md.find("finetune"), std::string::npos);
}

TEST(Pipeline, ExportStageWritesAnOnnxFileThatOnnxRuntimeRuns) {
  TempDir d;
  std::string recipe = d.write("r.yaml", R"(name: export_me
model: {zoo: lenet5, input: {shape: [1, 1, 28, 28]}}
stages:
  - export: {onnx: lenet.onnx, opset: 13}
report: {latency: false}
)");
  auto r = run_compress("--recipe " + recipe + " --out " + d.file("run"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_TRUE(fs::exists(d.file("run/lenet.onnx")));
  auto gen = run_command("/usr/bin/python3 -c \"import numpy as np; np.save('" + d.file("x.npy") +
                         "', np.random.RandomState(0).randn(2, 1, 28, 28).astype('float32'))\"");
  ASSERT_EQ(gen.exit_code, 0) << gen.out;
  auto ort = run_command("node " + mc::test::source_dir() + "/tests/ort/run_onnx.js " + d.file("run/lenet.onnx") +
                         " --input " + d.file("x.npy") + " --output " + d.file("ort.npy"));
  ASSERT_EQ(ort.exit_code, 0) << ort.out;
  auto ours = run_compress("run " + d.file("run/ckpt/01_export.mcm") + " --input " + d.file("x.npy") + " --output " +
                           d.file("ours.npy"));
  ASSERT_EQ(ours.exit_code, 0) << ours.out;
  auto cmp = run_command("/usr/bin/python3 -c \"import numpy as np; a=np.load('" + d.file("ort.npy") + "'); b=np.load('" +
                         d.file("ours.npy") + "'); assert a.shape == b.shape == (2, 10), (a.shape, b.shape);"
                         " assert abs(a-b).max() <= 1e-4 * abs(b).max(), abs(a-b).max()\"");
  EXPECT_EQ(cmp.exit_code, 0) << cmp.out;
  auto rep = read_json(d.file("run/report.json"));
  EXPECT_EQ(rep["stages"][1]["details"]["opset"], 13);
  // Bad opset: rejected at validation, nothing written.
  auto bad = run_compress("--recipe " + recipe + " --out " + d.file("run2") + " --set stages.0.export.opset=12");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.out.find("'stages.0.export.opset' = 12 is out of range"), std::string::npos) << bad.out;
  EXPECT_FALSE(fs::exists(d.file("run2")));
}
