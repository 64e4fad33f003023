// `distill:` in recipes, through the `compress` binary: a short KD fine-tune of the trained
// resnet8 fixture with an earlier stage's checkpoint as teacher (report, echo), and the recipe
// errors (message with location, exit code 2).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {

std::string recipe_text(const std::string& distill, const std::string& train_transform = "fmnist_eval") {
  return "name: distill_quick\nseed: 3\nthreads: 2\nmodel: {checkpoint: " + mc::test::resnet8_fixture() +
         "}\n"
         "data:\n"
         "  train: {dataset: fashion_mnist, limit: 1024, batch_size: 128, transform: " + train_transform + "}\n"
         "  val: {dataset: fashion_mnist, split: test, limit: 500, batch_size: 500, transform: fmnist_eval}\n"
         "stages:\n"
         "  - optimize: {}\n"
         "  - finetune:\n"
         "      epochs: 2\n"
         "      max_steps_per_epoch: 3\n"
         "      optimizer: {lr: 0.01}\n"
         "      distill: " + distill + "\n"
         "report: {latency_batches: [1], latency_repeats: 1}\n";
}

}  // namespace

TEST(DistillCli, FinetuneWithAnEarlierStageAsTeacherReportsEveryTerm) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  TempDir d;
  std::string recipe = d.write("r.yaml", recipe_text("{teacher: {stage: optimize}, temperature: 3, alpha: 0.8, "
                                                      "hints: [layer2.0.relu], attention: [layer3.0.relu]}"));
  const std::string out = d.file("run");
  auto r = run_compress("--recipe " + recipe + " --out " + out + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.out;

  auto rep = nlohmann::json::parse(mc::read_file(out + "/report.json"));
  nlohmann::json ft;
  for (auto& s : rep["stages"])
    if (s["stage"] == "finetune") ft = s;
  ASSERT_TRUE(ft.is_object()) << rep.dump(1);
  const auto& dd = ft["details"]["distill"];
  EXPECT_EQ(dd["teacher"], "stage optimize");
  EXPECT_EQ(dd["alpha"], 0.8);
  // The teacher is the fixture (88.5% on the full test set): well above chance on 500 images.
  EXPECT_GT(dd["teacher_val_top1"].get<double>(), 0.7);
  ASSERT_EQ(dd["epochs"].size(), 2u);
  for (auto& e : dd["epochs"]) {
    for (const char* k : {"kd", "ce", "hint_layer2.0.relu", "at_layer3.0.relu", "val_top1", "teacher_val_top1"}) {
      ASSERT_TRUE(e.contains(k)) << k << " in " << e.dump();
      EXPECT_TRUE(std::isfinite(e[k].get<double>())) << k;
    }
    EXPECT_EQ(e["teacher_samples"], 3 * 128);
  }
  // Student = teacher at the start, so KD and hints start near zero; they stay small for a short run.
  EXPECT_LT(dd["epochs"][0]["kd"].get<double>(), 0.5);
  EXPECT_TRUE(ft["details"]["epochs"][1].contains("distill"));
  EXPECT_EQ(ft["details"]["modifiers"], nlohmann::json::array({"distill"}));
  // The effective recipe echoes the section with its defaults.
  const std::string eff = mc::read_file(out + "/recipe.yaml");
  EXPECT_NE(eff.find("hint_weight: 1"), std::string::npos) << eff;
  EXPECT_NE(eff.find("cache_teacher: false"), std::string::npos) << eff;
}

TEST(DistillCli, RecipeErrorsHaveLocationsAndExitCode2) {
  TempDir d;
  std::string recipe = d.write("bad.yaml", recipe_text("{teacher: zoo:resnet9, temperature: 0, alpha: 1.5, tempreature: 2}"));
  auto r = run_compress("validate " + recipe);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(recipe + ":14:26: unknown teacher 'zoo:resnet9': no zoo model 'resnet9' (did you mean 'zoo:resnet8'?)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(recipe + ":14:52: distill.temperature = 0 must be > 0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'stages.1.finetune.distill.alpha' = 1.5 is out of range"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown key 'tempreature' in 'stages.1.finetune.distill' (did you mean 'temperature'?)"),
            std::string::npos)
      << r.out;

  std::string missing = d.write("missing.yaml", recipe_text("{teacher: nothere.mcm}"));
  auto m = run_compress("validate " + missing);
  EXPECT_EQ(m.exit_code, 2) << m.out;
  EXPECT_NE(m.out.find("unknown teacher 'nothere.mcm' (no such file"), std::string::npos) << m.out;

  std::string cached = d.write("cached.yaml", recipe_text("{teacher: original, cache_teacher: true}", "fmnist_train"));
  auto c = run_compress("--recipe " + cached + " --out " + d.file("run_cached") + " --quiet");
  EXPECT_EQ(c.exit_code, 2) << c.out;
  EXPECT_NE(c.out.find("cache_teacher: the training transform"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("is random"), std::string::npos) << c.out;
}

TEST(DistillCli, UnknownHintScopeAndTeacherStageFailBeforeTraining) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  TempDir d;
  std::string recipe = d.write("scope.yaml", recipe_text("{teacher: original, hints: [layer2.0.rleu]}"));
  auto r = run_compress("--recipe " + recipe + " --out " + d.file("run") + " --quiet");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(recipe + ":14:44: hint scope 'layer2.0.rleu' does not exist in the student model 'resnet8' "
                                "(did you mean 'layer2.0.relu'?)"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(d.file("run") + "/ckpt/02_finetune.mcm"));

  std::string stage = d.write("stage.yaml", recipe_text("{teacher: {stage: optimise}}"));
  auto s = run_compress("--recipe " + stage + " --out " + d.file("run2") + " --quiet");
  EXPECT_EQ(s.exit_code, 2) << s.out;
  const std::string msg = "teacher stage 'optimise' is not an earlier stage of this recipe (this is stage 2; earlier: "
                          "1 optimize); did you mean 'optimize'?";
  EXPECT_NE(s.out.find(msg), std::string::npos) << s.out;
  EXPECT_FALSE(fs::exists(d.file("run2") + "/ckpt")) << "checked with the plan, before stage 1 ran";
  auto v = run_compress("validate " + stage);
  EXPECT_EQ(v.exit_code, 2) << v.out;
  EXPECT_NE(v.out.find(msg), std::string::npos) << v.out;
}

TEST(DistillCli, StagesListsTheDistillSectionOfTrainAndFinetune) {
  auto r = run_compress("stages");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const size_t train = r.out.find("\ntrain\n"), finetune = r.out.find("\nfinetune\n");
  ASSERT_NE(finetune, std::string::npos) << r.out;
  for (size_t from : {train == std::string::npos ? size_t{0} : train, finetune}) {
    const size_t at = r.out.find("distill.temperature", from);
    ASSERT_NE(at, std::string::npos) << r.out;
    EXPECT_LT(at, r.out.find("\nevaluate\n", from)) << "in the section of the stage at " << from;
  }
  EXPECT_NE(r.out.find("distill.cache_teacher"), std::string::npos);
}
