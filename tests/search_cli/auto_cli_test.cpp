// `compress auto` end to end on the trained resnet8 fixture, kept small (train and val subsets,
// 3-step fine-tunes, two knobs): a search killed with SIGKILL in the middle of a trial leaves a
// best.yaml that runs to the top-1 the search recorded, --resume runs only the unfinished trial, and
// a constraint no trial meets keeps the closest one and says by how much it missed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::read_json;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {

std::string auto_recipe(const std::string& auto_text) {
  return "name: auto_small\nseed: 1\nthreads: 1\nmodel: {checkpoint: " + mc::test::resnet8_fixture() + R"(}
data:
  train: {dataset: fashion_mnist, limit: 256, batch_size: 64, transform: fmnist_eval}
  val: {dataset: fashion_mnist, limit: 256, batch_size: 256, transform: fmnist_eval, shuffle: false}
  calib: {from: train, samples: 64}
auto: )" + auto_text + "\n";
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The export stage's ONNX Runtime top-1 in a run's report.json.
double ort_top1(const std::string& run_dir) {
  const nlohmann::json r = read_json(run_dir + "/report.json");
  for (const auto& s : r.at("stages"))
    if (s.at("stage") == "export") return s.at("details").at("ort_eval").at("top1_ort").get<double>();
  ADD_FAILURE() << run_dir << " has no export stage";
  return -1;
}

}  // namespace

TEST(AutoCli, KilledMidTrialLeavesABestThatRunsAndResumeRunsOnlyTheUnfinishedTrial) {
  TempDir dir;
  const std::string recipe =
      dir.write("auto.yaml", auto_recipe("{objective: ort_latency, batch: 8, latency_runs: 3, max_loss: 50, trials: 3, "
                                         "finetune_epochs: 1, finetune: {max_steps_per_epoch: 2}, "
                                         "knobs: [prune_blocks, prune_channels], sweep_batches: 1}"));
  const std::string out = dir.file("search");
  // Start the search; SIGKILL it once trial 2's run has its first checkpoint (mid-trial).
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string log = dir.file("first.log");
    freopen(log.c_str(), "w", stdout);
    freopen(log.c_str(), "a", stderr);
    const std::string bin = mc::test::compress_bin();
    ::execl(bin.c_str(), bin.c_str(), "auto", recipe.c_str(), "--out", out.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const fs::path marker = fs::path(out) / "trials/002/run/ckpt/00_load.mcm";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  int status = 0;
  bool exited = false;
  while (!fs::exists(marker) && std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ASSERT_FALSE(exited) << "the search ended before trial 2 started: " << slurp(dir.file("first.log"));
  ASSERT_TRUE(fs::exists(marker)) << "trial 2 never started: " << slurp(dir.file("first.log"));

  // Two finished trials on disk, the best of them as a recipe that runs to the recorded top-1.
  const auto before = read_lines(out + "/trials.jsonl");
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(before[0].at("key"), "baseline");
  EXPECT_EQ(before[1].at("status"), "done") << before[1].dump();
  EXPECT_GT(before[0].at("latency_median_ms").get<double>(), 0.0);
  EXPECT_LE(before[0].at("latency_min_ms").get<double>(), before[0].at("latency_median_ms").get<double>());
  const nlohmann::json best = read_json(out + "/best.json");
  EXPECT_EQ(best.at("trial"), 1) << "trial 1 is the only finished trial that changes the model: " << best.dump();
  for (const char* f : {"best.yaml", "best.mcm", "best.onnx", "pareto.json", "report.html", "sweep.json"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  // The sweep (defaults: a recovery fine-tune per move, the ort_latency probe): every measured
  // move was fine-tuned and timed in ONNX Runtime, and so was the model as loaded.
  const nlohmann::json sweep = read_json(out + "/sweep.json");
  EXPECT_GT(sweep.at("baseline").at("cost").get<double>(), 0.0) << sweep.dump(1);
  int measured = 0;
  for (const auto& r : sweep.at("rows")) {
    if (!r.at("ok").get<bool>()) continue;
    ++measured;
    EXPECT_GT(r.at("cost").get<double>(), 0.0) << r.dump();
    EXPECT_GT(r.at("recovery_seconds").get<double>(), 0.0) << r.dump();
  }
  EXPECT_GT(measured, 0) << sweep.dump(1);
  auto rerun = run_compress("--recipe " + out + "/best.yaml --out " + dir.file("rerun") + " -q");
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out;
  // Same recipe, seed and one thread: the same fine-tune and the same ONNX Runtime top-1.
  EXPECT_EQ(ort_top1(dir.file("rerun")), best.at("top1").get<double>());
  EXPECT_EQ(ort_top1(out + "/trials/001/run"), best.at("top1").get<double>());

  // --resume: trials 0 and 1 are not run again (their files stay as they were), trial 2 runs.
  const auto t0 = fs::last_write_time(out + "/trials/000/run/report.json");
  const auto t1 = fs::last_write_time(out + "/trials/001/run/report.json");
  // (a larger time budget is allowed: the budget is not part of what is searched)
  auto resumed = run_compress("auto " + recipe + " --out " + out + " --resume --set auto.minutes=40");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("3 trials (1 run now)"), std::string::npos) << resumed.out;
  EXPECT_NE(resumed.out.find("per-layer sweep read from"), std::string::npos) << resumed.out;
  EXPECT_EQ(fs::last_write_time(out + "/trials/000/run/report.json"), t0);
  EXPECT_EQ(fs::last_write_time(out + "/trials/001/run/report.json"), t1);
  const auto after = read_lines(out + "/trials.jsonl");
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0], before[0]);
  EXPECT_EQ(after[1], before[1]);
  EXPECT_EQ(after[2].at("trial"), 2);
  EXPECT_NE(after[2].at("key"), after[1].at("key"));
  // The Pareto front: no trial on it is dominated by another finished trial.
  const nlohmann::json pareto = read_json(out + "/pareto.json");
  ASSERT_FALSE(pareto.at("front").empty());
  for (const auto& f : pareto.at("front"))
    for (const auto& t : after)
      if (t.at("status") == "done")
        EXPECT_FALSE(t.at("objective").get<double>() < f.at("objective").get<double>() &&
                     t.at("top1").get<double>() > f.at("top1").get<double>())
            << t.dump() << " dominates " << f.dump();
  const std::string html = slurp(out + "/report.html");
  EXPECT_NE(html.find("id=\"chart-auto-pareto\""), std::string::npos);
  EXPECT_NE(html.find("class=\"point\""), std::string::npos);

  // A fresh search into a directory that holds one is refused, and so is resuming another search.
  auto again = run_compress("auto " + recipe + " --out " + out);
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.out.find("--resume"), std::string::npos) << again.out;
  auto other = run_compress("auto " + recipe + " --out " + out + " --resume --set auto.max_loss=1");
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_NE(other.out.find("holds a search of another recipe"), std::string::npos) << other.out;
}

TEST(AutoCli, NoTrialWithinTheConstraintKeepsTheClosestAndSaysByHowMuch) {
  TempDir dir;
  // No fine-tune, half of the ranked channel moves in the first trial: far below a 0-point tolerance.
  const std::string recipe =
      dir.write("auto.yaml", auto_recipe("{objective: macs, max_loss: 0, trials: 2, finetune_epochs: 0, "
                                         "knobs: [prune_channels], sweep_batches: 1}"));
  auto r = run_compress("auto " + recipe + " --out " + dir.file("s"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const nlohmann::json best = read_json(dir.file("s/best.json"));
  EXPECT_FALSE(best.at("met").get<bool>()) << best.dump();
  EXPECT_EQ(best.at("trial"), 1);
  const double miss = (best.at("min_top1").get<double>() - best.at("top1").get<double>()) * 100;
  EXPECT_GT(miss, 0.0);
  EXPECT_NEAR(best.at("miss_points").get<double>(), miss, 1e-9);
  EXPECT_NE(r.out.find("no trial met the constraint"), std::string::npos) << r.out;
  EXPECT_NE(slurp(dir.file("s/report.html")).find("No trial met the constraint"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.file("s/best.yaml")));
  EXPECT_LT(best.at("macs").get<int64_t>(), read_lines(dir.file("s/trials.jsonl"))[0].at("macs").get<int64_t>());
}
