// Every recipe shipped in recipes/ validates with the current stage options (a renamed or removed
// option would otherwise only show when a user runs it). Checkpoints the recipes expect from
// earlier runs (make demo's model, the resnet20 teacher) are replaced by the trained fixture, the
// TorchScript text model of bert_tiny_int8 by the fixture in this build's fixtures/.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "common/atomic_file.h"
#include "support/test_env.h"

namespace fs = std::filesystem;

TEST(ShippedRecipes, EveryRecipeValidates) {
  const std::string fixture = mc::test::fixture_dir() + "/resnet8_fmnist/resnet8_fmnist.mcm";
  ASSERT_TRUE(fs::exists(fixture)) << "run ctest -R fixtures.resnet8_fmnist first";
  const std::regex model_checkpoint(R"(^model:\s*\{\s*checkpoint:)", std::regex::multiline);
  const std::regex bert_tiny(R"(^\s*torchscript:\s*\S*/bert_tiny\.traced\.pt)", std::regex::multiline);
  const std::regex teacher_file(R"(^(\s*)teacher:\s*\S+\.mcm)", std::regex::multiline);
  int checked = 0;
  for (const auto& e : fs::directory_iterator(mc::test::source_dir() + "/recipes")) {
    if (e.path().extension() != ".yaml") continue;
    const std::string text = mc::read_file(e.path().string());
    std::string sets;
    if (std::regex_search(text, model_checkpoint)) sets += " --set model.checkpoint=" + fixture;
    if (std::regex_search(text, bert_tiny)) sets += " --set model.torchscript=" + mc::test::fixture_dir() + "/bert_tiny.traced.pt";
    if (std::regex_search(text, teacher_file)) {
      // The one recipe with a teacher file distils in its first stage, a train stage.
      sets += " --set stages.0.train.distill.teacher=" + fixture;
    }
    auto r = mc::test::run_compress("validate " + e.path().string() + sets);
    EXPECT_EQ(r.exit_code, 0) << e.path() << ":\n" << r.out;
    EXPECT_NE(r.out.find(": ok ("), std::string::npos) << e.path() << ":\n" << r.out;
    ++checked;
  }
  EXPECT_GE(checked, 13);
}
