// `compress eval` applies the preprocessing the model was trained with: the one recorded in a
// checkpoint written by a recipe run (data.val's transforms), or --transform / --recipe. The figure
// must equal the run's own measurement of data.val (the same computation: same images, same
// transforms, same batch size), exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <regex>

#include "ir/model.h"
#include "support/test_env.h"

namespace mc {
namespace {
namespace fs = std::filesystem;
using test::run_compress;

// The trained resnet8 fixture (no preprocessing recorded: written before it was) re-saved by a
// recipe whose data.val is the full Fashion-MNIST test split with the fmnist_eval preset. The val
// set is not limited: a recipe's `limit` draws a seeded random subset, `eval --limit` the first N.
std::string resave_recipe(const std::string& fixture) {
  return "name: eval_preprocessing\n"
         "seed: 0\n"
         "threads: 1\n"
         "model: {checkpoint: " + fixture + "}\n"
         "data:\n"
         "  val: {dataset: fashion_mnist, batch_size: 500, transform: fmnist_eval, shuffle: false}\n"
         "stages:\n"
         "  - save: {path: saved.mcm}\n"
         "report: {formats: [json], latency_batches: []}\n";
}

// Correct predictions out of 10000 from "top-1 88.53%  ..." (2 decimals of a percentage of
// 10000 samples are exact).
int64_t correct_of(const test::RunResult& r) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(r.out, m, std::regex("top-1 ([0-9.]+)%.*\\(10000 samples\\)"))) << r.out;
  return m.empty() ? -1 : std::llround(std::stod(m[1]) * 100);
}

struct ResavedRun {
  test::TempDir dir;
  std::string recipe, saved;
  int64_t report_correct = -1;  // the run's own data.val figure after the save stage
};

// Made once for the tests of this file (a recipe run and its report); removed at exit.
const ResavedRun& resaved() {
  static ResavedRun r;
  static const bool done = [] {
    r.recipe = r.dir.write("r.yaml", resave_recipe(test::resnet8_fixture()));
    auto res = run_compress("--recipe " + r.recipe + " --out " + r.dir.file("run") + " -q");
    EXPECT_EQ(res.exit_code, 0) << res.out;
    r.saved = r.dir.file("run/saved.mcm");
    auto rep = test::read_json(r.dir.file("run/report.json"));
    r.report_correct = std::llround(rep["stages"].back()["metrics"]["top1"].get<double>() * 10000);
    return true;
  }();
  (void)done;
  return r;
}

test::RunResult eval(const std::string& model, const std::string& extra = "") {
  return run_compress("eval " + model + " --data fashion_mnist --batch 500 " + extra);
}

TEST(EvalPreprocessing, RecordedTransformGivesTheRunsFigure) {
  ASSERT_TRUE(fs::exists(test::resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  const ResavedRun& run = resaved();
  ASSERT_TRUE(fs::exists(run.saved));
  // The runner's own checkpoint records it too.
  for (const std::string& model : std::vector<std::string>{run.saved, run.dir.file("run/ckpt/01_save.mcm")}) {
    auto r = eval(model);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_EQ(correct_of(r), run.report_correct) << r.out;
    EXPECT_NE(r.out.find("preprocessing: normalize(mean=[0.286], std=[0.353]) (recorded in " + model + " (data.val of " +
                         run.recipe + "))"),
              std::string::npos)
        << r.out;
  }
  EXPECT_GT(run.report_correct, 8000) << "the fixture should be a trained model";
}

TEST(EvalPreprocessing, TransformAndRecipeFlagsOverrideTheRecord) {
  const ResavedRun& run = resaved();
  // A copy of the fixture without a record (the fixture itself records data.val's transforms when
  // made by this build): raw pixels, said on stderr.
  test::TempDir d;
  const std::string fixture = d.file("unrecorded.mcm");
  {
    ir::Model m = ir::Model::load(test::resnet8_fixture());
    m.preprocessing.clear();
    m.save(fixture);
  }
  auto raw = eval(fixture);
  ASSERT_EQ(raw.exit_code, 0) << raw.out;
  EXPECT_NE(raw.out.find("no preprocessing recorded in " + fixture + "; raw pixels in [0,1]; pass --transform"),
            std::string::npos)
      << raw.out;
  // The bug this guards against: raw pixels into a normalised model (measured: ~15 % vs ~88 %).
  EXPECT_LT(correct_of(raw), run.report_correct - 3000) << raw.out;
  // --transform none on the recorded model: the same raw figure.
  auto none = eval(run.saved, "--transform none");
  EXPECT_EQ(correct_of(none), correct_of(raw)) << none.out;
  EXPECT_NE(none.out.find("preprocessing: none (--transform none)"), std::string::npos) << none.out;
  // The preset, a file holding the same list, and the recipe's data.val on the unrecorded fixture.
  std::string file = d.write("t.yaml", "- {type: normalize, mean: [0.2860], std: [0.3530]}\n");
  for (const std::string& flag : std::vector<std::string>{"--transform fmnist_eval", "--transform " + file, "--recipe " + run.recipe}) {
    auto r = eval(fixture, flag);
    ASSERT_EQ(r.exit_code, 0) << flag << "\n" << r.out;
    EXPECT_EQ(correct_of(r), run.report_correct) << flag << "\n" << r.out;
  }
}

TEST(EvalPreprocessing, UnknownPresetIsExit2WithThePresets) {
  auto r = eval(test::resnet8_fixture(), "--limit 10 --transform fmnist_evl");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  for (const char* s : {"--transform 'fmnist_evl': unknown transform preset", "did you mean 'fmnist_eval'?", "cifar_eval",
                        "imagenet_train", "or 'none'"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  EXPECT_EQ(r.out.find("top-1"), std::string::npos) << r.out;
  auto missing = eval(test::resnet8_fixture(), "--limit 10 --transform nowhere/t.yaml");
  EXPECT_EQ(missing.exit_code, 2) << missing.out;
  EXPECT_NE(missing.out.find("'nowhere/t.yaml': no such file"), std::string::npos) << missing.out;
  // A recipe's unknown preset lists them too (same lister).
  test::TempDir d;
  std::string rec = d.write("r.yaml", "name: p\nmodel: {zoo: resnet8}\ndata:\n  val: {dataset: fashion_mnist, transform: "
                                      "fmnist_evl}\nstages:\n  - evaluate\n");
  auto v = run_compress("validate " + rec);
  EXPECT_EQ(v.exit_code, 2) << v.out;
  EXPECT_NE(v.out.find(rec + ":4:"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("presets: cifar_eval, cifar_train, fmnist_eval"), std::string::npos) << v.out;
}

TEST(EvalPreprocessing, DamagedRecordIsExit2NamingTheModel) {
  test::TempDir d;
  ir::Model m = ir::Model::load(test::resnet8_fixture());
  m.preprocessing = R"({"from": "x", "transform": [{"type": "normalise", "mean": [0.5]}]})";
  std::string path = d.file("bad.mcm");
  m.save(path);
  auto r = eval(path, "--limit 10");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(path + "#preprocessing"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("normalise"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("top-1"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mc
