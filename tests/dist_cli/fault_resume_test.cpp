// A data-parallel run that loses a rank: rank 1 SIGKILLed in its first epoch (by the test, ranks
// started by hand; or by tests/support/kill_shim.cpp preloaded into one worker of `compress
// launch`), rank 0 killed right after it committed a stage. The survivors stop within the timeout with a message naming
// the rank, the launcher exits non-zero, and `--resume` of the same command (every rank reading
// the run directory rank 0 wrote) ends bit for bit as the uninterrupted distributed run.
// Also: `device: cuda` in a data-parallel run is refused (this build has no NCCL).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/atomic_file.h"
#include "distributed/dist_test_util.h"
#include "ir/model.h"
#include "dist_cli/dist_cli_util.h"
#include "support/test_env.h"

namespace mc {
namespace {

namespace fs = std::filesystem;

constexpr int kTimeoutS = 20;  // distributed.timeout_s of the recipe below

// The trained resnet8 fixture (its BatchNorms kept, not synchronised: each rank's running statistics
// are its own until training ends) fine-tuned 2 epochs x 4 steps of 32 images per rank, then
// evaluated; one thread per rank so that every run computes the same floats.
std::string recipe_text() {
  return test::fixture_recipe(
      "dist_resume",
      "  train: {dataset: fashion_mnist, limit: 512, batch_size: 32, transform: fmnist_train, workers: 0}\n"
      "  val: {dataset: fashion_mnist, limit: 256, batch_size: 128, transform: fmnist_eval, shuffle: false, workers: 0}",
      "  - finetune: {epochs: 2, max_steps_per_epoch: 4, validate_each_epoch: false, optimizer: {lr: 0.01}}\n"
      "  - evaluate: {}",
      "{timeout_s: " + std::to_string(kTimeoutS) + "}");
}

std::string launch(const std::string& args, const std::string& env = "") {
  return "env " + env + " " + test::compress_bin() + " launch --nproc 2 --master-port 0 -- " + args;
}

void expect_same_run(const std::string& want_dir, const std::string& got_dir, const std::string& what) {
  // Bit for bit: the resumed stages run the same float operations on the same inputs (one thread per
  // rank, the same seeds and data shards, checkpoints that round-trip exactly).
  const ir::Model want = ir::Model::load(want_dir + "/ckpt/02_evaluate.mcm");
  const ir::Model got = ir::Model::load(got_dir + "/ckpt/02_evaluate.mcm");
  ASSERT_EQ(want.tensors.size(), got.tensors.size()) << what;
  for (auto& [k, v] : want.tensors) {
    ASSERT_TRUE(got.tensors.count(k)) << what << ": no " << k;
    EXPECT_TRUE(at::equal(v, got.tensors.at(k))) << what << ": " << k << " differs";
  }
  const nlohmann::json a = test::read_json(want_dir + "/report.json"), b = test::read_json(got_dir + "/report.json");
  EXPECT_EQ(b.at("world_size"), 2);
  ASSERT_EQ(a.at("stages").size(), b.at("stages").size()) << what;
  for (size_t s = 0; s < a.at("stages").size(); ++s) {
    EXPECT_EQ(a["stages"][s]["stage"], b["stages"][s]["stage"]) << what;
    // Every metric, the accuracy of the sharded evaluation (rank 1 measuring half) included.
    EXPECT_EQ(a["stages"][s]["metrics"], b["stages"][s]["metrics"]) << what << ": stage " << s;
  }
}

int finished_stages(const std::string& dir) { return test::read_json(dir + "/state.json").at("finished").get<int>(); }

TEST(DataParallelFault, KilledRankStopsTheOthersAndResumeEqualsTheUninterruptedRun) {
  ASSERT_TRUE(fs::exists(test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  ASSERT_TRUE(fs::exists(MC_KILL_SHIM));
  test::TempDir tmp;
  const std::string recipe = tmp.write("r.yaml", recipe_text());
  const std::string ref = tmp.file("ref");
  auto r = test::run_command(launch("--recipe " + recipe + " --out " + ref + " -q"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  ASSERT_EQ(finished_stages(ref), 2);

  {
    SCOPED_TRACE("rank 1 SIGKILLed by the test in the first epoch; ranks started by hand");
    const std::string out = tmp.file("by_hand");
    const std::string args = "--recipe " + recipe + " --out " + out;
    const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(test::free_port()) + " ";
    const std::string bin = " " + test::compress_bin() + " ";  // $! is then compress itself (ctest's timeout bounds a hang)
    // Rank 1 is killed once its log shows the fine-tune started (4 steps per epoch follow): the
    // stage is cut in its first epoch, wherever in it.
    const std::string cmd = "cd " + tmp.path() + " && (" + env + "RANK=0" + bin + args + " > r0.out 2>&1 & p0=$!; " + env +
                            "RANK=1" + bin + args + " > r1.out 2>&1 & p1=$!; " +
                            "for i in $(seq 3000); do grep -qs 'finetune: 2 epoch' " + out +
                            "/log.rank1.txt && break; sleep 0.01; done; kill -KILL $p1; t0=$(date +%s%N); wait $p0; "
                            "r0=$?; t1=$(date +%s%N); wait $p1; echo $r0 $? $(( (t1 - t0) / 1000000 )) > codes)";
    test::run_command(cmd);
    int rc0 = -1, rc1 = -1, ms = -1;
    std::ifstream(tmp.file("codes")) >> rc0 >> rc1 >> ms;
    const std::string out0 = read_file(tmp.file("r0.out"));
    EXPECT_EQ(rc1, 128 + 9) << "rank 1 was not killed by SIGKILL: " << read_file(tmp.file("r1.out"));
    EXPECT_EQ(rc0, 1) << out0;
    EXPECT_NE(out0.find("rank 0 of 2: "), std::string::npos) << out0;
    EXPECT_NE(out0.find("failed: rank 1 (the other process) died or stopped responding"), std::string::npos) << out0;
    // A dead peer closes its sockets: Gloo reports it at once (measured: see the printed figure);
    // the bound is the configured timeout (a rank that hangs is found only then) plus 5 s for a
    // loaded machine.
    std::printf("rank 0 stopped %d ms after rank 1 was killed (timeout %d s)\n", ms, kTimeoutS);
    EXPECT_GE(ms, 0);
    EXPECT_LT(ms, (kTimeoutS + 5) * 1000);
    EXPECT_EQ(finished_stages(out), 0) << "killed elsewhere than in the fine-tune";
    EXPECT_EQ(read_file(out + "/log.txt").find("finetune epoch 2/2"), std::string::npos) << "killed after the first epoch";

    const std::string resume = "cd " + tmp.path() + " && (" + env + "RANK=0" + bin + args + " --resume > r0.out 2>&1 & p0=$!; " +
                               env + "RANK=1" + bin + args + " --resume > r1.out 2>&1 & p1=$!; wait $p0; r0=$?; wait $p1; " +
                               "echo $r0 $? > codes)";
    test::run_command(resume);
    std::ifstream(tmp.file("codes")) >> rc0 >> rc1;
    ASSERT_EQ(rc0, 0) << read_file(tmp.file("r0.out"));
    ASSERT_EQ(rc1, 0) << read_file(tmp.file("r1.out"));
    EXPECT_NE(read_file(out + "/log.rank1.txt").find("resuming 'dist_resume' after stage 0"), std::string::npos);
    expect_same_run(ref, out, "resumed by hand");
  }
  {
    // The resumed run starts at the evaluate stage, whose sharded accuracy rank 1 measures with
    // the model it loads from rank 0's checkpoint: equal to the uninterrupted run only because
    // training ends with rank 0's tensors (BatchNorm running statistics) on every rank.
    SCOPED_TRACE("rank 0 SIGKILLed right after committing the fine-tune stage, under compress launch");
    const std::string out = tmp.file("rank0");
    const std::string args = "--recipe " + recipe + " --out " + out;
    auto killed = test::run_command(
        launch(args, "LD_PRELOAD=" MC_KILL_SHIM " MC_KILL_RANK=0 MC_KILL_AT_RENAME=state.json MC_KILL_COUNT=2"));
    EXPECT_EQ(killed.exit_code, 128 + 9) << killed.out;
    EXPECT_NE(killed.out.find("rank 0 (pid "), std::string::npos) << killed.out;
    EXPECT_EQ(finished_stages(out), 1);
    auto resumed = test::run_command(launch(args + " --resume -q"));
    ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
    expect_same_run(ref, out, "rank 0 killed, resumed under launch");
  }
}

// Under `compress launch`: rank 1 killed (kill_shim, in that worker only) when it logs the end of
// its first epoch; the launcher stops rank 0 and exits with rank 1's status, naming it.
TEST(DataParallelFault, LauncherExitsNonZeroNamingTheKilledRank) {
  ASSERT_TRUE(fs::exists(test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  ASSERT_TRUE(fs::exists(MC_KILL_SHIM));
  test::TempDir tmp;
  const std::string recipe = tmp.write("r.yaml", recipe_text());
  const std::string out = tmp.file("launched");
  auto killed = test::run_command(launch("--recipe " + recipe + " --out " + out,
                                         "LD_PRELOAD=" MC_KILL_SHIM " MC_KILL_RANK=1 MC_KILL_AT_OUTPUT='finetune epoch 1/2'"));
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.out;
  EXPECT_NE(killed.out.find("error: launch: rank 1 (pid "), std::string::npos) << killed.out;
  EXPECT_NE(killed.out.find("was killed by SIGKILL"), std::string::npos) << killed.out;
  EXPECT_EQ(finished_stages(out), 0) << "killed elsewhere than in the fine-tune";
  EXPECT_EQ(read_file(out + "/log.txt").find("finetune epoch 2/2"), std::string::npos);
}

// Gloo is the only backend of this build (Debian's LibTorch has no NCCL): `device: cuda` with
// torchrun's variables is a recipe error at its line, before any rendezvous or file.
TEST(DataParallelFault, CudaDeviceIsRefusedWithoutNccl) {
  test::TempDir tmp;
  // No datasets: the refusal comes before anything is opened.
  const std::string body = "name: nccl\nmodel: {zoo: lenet5, input: {shape: [1, 1, 28, 28]}}\nstages:\n  - fold_batch_norm: {}\n";
  const std::string recipe = tmp.write("r.yaml", "device: cuda\n" + body);
  const std::string env = "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(test::free_port()) + " ";
  auto r = test::run_command(env + test::compress_bin() + " --recipe " + recipe + " --out " + tmp.file("run"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(recipe + ":1:1: device: cuda in a data-parallel run (WORLD_SIZE=2): this build has no NCCL"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("set device: cpu"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(tmp.file("run"))) << "nothing is written";

  const std::string plain = tmp.write("p.yaml", body);
  r = test::run_command(env + test::compress_bin() + " --recipe " + plain + " --device cuda --out " + tmp.file("run"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("--device cuda in a data-parallel run (WORLD_SIZE=2): this build has no NCCL"), std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(tmp.file("run")));
}

}  // namespace
}  // namespace mc
