// --resume of a run killed with SIGKILL (tests/support/kill_shim.cpp, preloaded into the real
// `compress` binary, kills it right after a file of the run directory is committed or when a log
// line is written), and --resume refusing corrupt run directories.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "ir/model.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::read_json;
using mc::test::run_command;
using mc::test::run_compress;
using mc::test::RunResult;
using mc::test::TempDir;

namespace {

// The trained resnet8 fixture before its BatchNorm fold (QAT simulates the fold).
std::string fixture() { return mc::test::fixture_dir() + "/resnet8_fmnist/ckpt/01_train.mcm"; }

// prune (one shot, magnitude) -> quantize (QAT) -> finetune (2 short epochs) -> evaluate, on a small
// train subset; one thread so that every run computes the same floats.
std::string kill_recipe() {
  return "name: kill_resume\nseed: 3\nthreads: 1\nmodel: {checkpoint: " + fixture() + R"(, input: {shape: [1, 1, 28, 28]}}
data:
  train: {dataset: fashion_mnist, limit: 384, batch_size: 64, transform: fmnist_train}
  val: {dataset: fashion_mnist, limit: 500, batch_size: 250, transform: fmnist_eval, shuffle: false}
  calib: {from: train, samples: 128}
stages:
  - prune: {method: magnitude, sparsity: 0.6, scope: global}
  - quantize: {mode: qat, weights: {bits: 4}}
  - finetune: {epochs: 2, max_steps_per_epoch: 3, optimizer: {lr: 0.01}}
  - evaluate: {}
report: {formats: [json], latency: false}
)";
}

// `compress --recipe ... --out ...` with the kill shim preloaded and `env` (its settings).
RunResult run_with_kill(const std::string& env, const std::string& recipe, const std::string& out) {
  return run_command("env LD_PRELOAD=" MC_KILL_SHIM " " + env + " " + mc::test::compress_bin() + " --recipe " + recipe +
                     " --out " + out);
}

void expect_same_tensors(const mc::ir::Model& want, const mc::ir::Model& got, const std::string& what) {
  ASSERT_EQ(want.tensors.size(), got.tensors.size()) << what;
  for (auto& [k, v] : want.tensors) {
    ASSERT_TRUE(got.tensors.count(k)) << what << ": no " << k;
    // Bit for bit: the resumed stages run the same float operations on the same inputs (one thread,
    // the same seeds, checkpoints that round-trip exactly).
    EXPECT_TRUE(at::equal(v, got.tensors.at(k))) << what << ": " << k << " differs, max |diff| "
                                                 << (v.to(at::kDouble) - got.tensors.at(k).to(at::kDouble)).abs().max().item<double>();
  }
}

// Every weight the prune stage zeroed is still zero in `final`.
int64_t expect_pruned_zeros_kept(const mc::ir::Model& pruned, const mc::ir::Model& final_model, const std::string& what) {
  int64_t zeros = 0;
  for (auto& n : pruned.param_names()) {
    const at::Tensor& p = pruned.tensors.at(n);
    if (p.dim() < 2 || !final_model.tensors.count(n)) continue;
    const at::Tensor zero = p.eq(0);
    zeros += zero.sum().item<int64_t>();
    const at::Tensor& f = final_model.tensors.at(n);
    EXPECT_EQ(f.masked_select(zero).abs().sum().item<double>(), 0.0) << what << ": pruned weights of " << n << " grew back";
  }
  return zeros;
}

struct KillPoint {
  const char* name;
  std::string env;
  int finished;  // state.json's "finished" when the process died
};

}  // namespace

TEST(Resume, KilledRunsResumeToTheUninterruptedResult) {
  ASSERT_TRUE(fs::exists(fixture())) << "run the fixtures.resnet8_fmnist test first";
  ASSERT_TRUE(fs::exists(MC_KILL_SHIM));
  TempDir d;
  const std::string recipe = d.write("r.yaml", kill_recipe());
  const std::string ref = d.file("ref");
  auto r = run_compress("--recipe " + recipe + " --out " + ref + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto ref_report = read_json(ref + "/report.json");
  const mc::ir::Model ref_final = mc::ir::Model::load(ref + "/ckpt/04_evaluate.mcm");
  const mc::ir::Model ref_pruned = mc::ir::Model::load(ref + "/ckpt/01_prune.mcm");
  const int64_t zeros = expect_pruned_zeros_kept(ref_pruned, ref_final, "uninterrupted");
  EXPECT_GT(zeros, 40000) << "the prune stage pruned too little for the test to mean anything";
  const auto& ref_q = ref_report["stages"][2]["metrics"];
  EXPECT_LT(ref_q["bytes_stored"].get<int64_t>() * 4, ref_q["bytes_fp32"].get<int64_t>()) << "4-bit weights as stored";

  const std::vector<KillPoint> points = {
      {"right after the prune checkpoint", "MC_KILL_AT_RENAME=ckpt/01_prune.mcm", 0},
      {"after the prune stage's state", "MC_KILL_AT_RENAME=state.json MC_KILL_COUNT=2", 1},
      {"after the quantize stage's state", "MC_KILL_AT_RENAME=state.json MC_KILL_COUNT=3", 2},
      {"in the finetune, after its first epoch", "MC_KILL_AT_OUTPUT='finetune epoch 1/2'", 2},
      {"after the finetune stage's state", "MC_KILL_AT_RENAME=state.json MC_KILL_COUNT=4", 3},
  };
  for (size_t i = 0; i < points.size(); ++i) {
    const KillPoint& p = points[i];
    SCOPED_TRACE(p.name);
    const std::string out = d.file("run" + std::to_string(i));
    auto killed = run_with_kill(p.env, recipe, out);
    ASSERT_EQ(killed.exit_code, 128 + 9) << "not killed by SIGKILL: " << killed.out;
    EXPECT_EQ(read_json(out + "/state.json")["finished"].get<int>(), p.finished) << "killed elsewhere than meant";
    auto resumed = run_compress("--recipe " + recipe + " --out " + out + " --resume");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
    EXPECT_NE(mc::read_file(out + "/log.txt").find("resuming 'kill_resume' after stage " + std::to_string(p.finished)),
              std::string::npos);

    const mc::ir::Model final_model = mc::ir::Model::load(out + "/ckpt/04_evaluate.mcm");
    expect_same_tensors(ref_final, final_model, p.name);
    expect_pruned_zeros_kept(ref_pruned, final_model, p.name);
    const auto rep = read_json(out + "/report.json");
    ASSERT_EQ(rep["stages"].size(), ref_report["stages"].size());
    for (size_t s = 0; s < rep["stages"].size(); ++s) {
      const auto& m = rep["stages"][s]["metrics"];
      const auto& want = ref_report["stages"][s]["metrics"];
      EXPECT_EQ(rep["stages"][s]["stage"], ref_report["stages"][s]["stage"]);
      for (const char* k : {"bytes_stored", "bytes_fp32", "compression_ratio", "nonzero_params", "top1"})
        EXPECT_EQ(m[k], want[k]) << "stage " << s << " " << k;
    }
  }
}

namespace {

const char* kQuickRecipe = R"(name: quick
seed: 1
threads: 1
model: {zoo: lenet5, input: {shape: [1, 1, 28, 28]}}
data:
  train: {dataset: fashion_mnist, limit: 256, batch_size: 64, transform: fmnist_eval}
stages:
  - train: {epochs: 1}
  - evaluate: {split: train}
report: {formats: [json], latency: false}
)";

// Runs the quick recipe up to its end, then writes `name` with `text` and resumes: the refusal.
void expect_refused(const std::string& name, const std::string& text, const std::string& what) {
  TempDir d;
  const std::string recipe = d.write("r.yaml", kQuickRecipe);
  const std::string out = d.file("run");
  auto first = run_compress("--recipe " + recipe + " --out " + out + " -q");
  ASSERT_EQ(first.exit_code, 0) << first.out;
  std::ofstream(out + "/" + name, std::ios::trunc) << text;
  const std::string report_before = mc::read_file(out + "/report.json");
  const std::string state_before = mc::read_file(out + "/state.json");
  auto r = run_compress("--recipe " + recipe + " --out " + out + " --resume");
  EXPECT_EQ(r.exit_code, 2) << what << ": " << r.out;
  EXPECT_NE(r.out.find(out + "/" + name), std::string::npos) << what << ": the message names no file: " << r.out;
  EXPECT_NE(r.out.find(what), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("delete the run directory '" + out + "' or run again without --resume"), std::string::npos) << r.out;
  // Nothing was written: the files are as they were.
  EXPECT_EQ(mc::read_file(out + "/report.json"), report_before) << what;
  EXPECT_EQ(mc::read_file(out + "/state.json"), state_before) << what;
}

}  // namespace

TEST(Resume, CorruptReportIsRefusedNotReplaced) {
  expect_refused("report.json", "{\"schema_version\": 1, \"stages\": [", "is corrupt");
  expect_refused("report.json", "{\"hello\": 1}", "is unusable");
  expect_refused("report.json", "[]", "is unusable");
}

TEST(Resume, CorruptStateIsRefused) {
  expect_refused("state.json", "{\"format\": \"compress-run-state-2\", \"finished\": ", "is corrupt");
  expect_refused("state.json",
                 "{\"format\": \"compress-run-state-2\", \"recipe_hash\": \"x\", \"finished\": \"two\", \"checkpoint\": \"\", "
                 "\"storage_bits\": {}, \"pending_modifiers\": [], \"modifier_tensors\": \"\"}",
                 "is corrupt");
  expect_refused("state.json", "{\"recipe_hash\": \"x\", \"finished\": 1, \"checkpoint\": \"c\", \"modifiers_pending\": false}",
                 "written by another version");
}
