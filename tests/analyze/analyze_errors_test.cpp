// `compress analyze` on what it cannot analyse fully: bad input, refused before anything is written
// with exit code 2 and one message naming what is wrong (file:line:col for the recipe), and a
// recipe that changes the graph, whose layers are reported as not revertible.
#include <gtest/gtest.h>

#include <filesystem>

#include "analyze/w4_recipe.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::run_compress;
using mc::test::TempDir;
using mc::test::w4_recipe;

TEST(Analyze, BadInputIsRefusedWithExitCode2AndNothingWritten) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  const std::string good = d.write("w4.yaml", w4_recipe(64));
  std::string no_compress = w4_recipe(64);
  no_compress = no_compress.substr(0, no_compress.find("  - quantize")) + "  - finetune: {epochs: 1}\n  - evaluate: {}\n" +
                "report: {formats: [json], latency: false}\n";
  const std::string plain = d.write("plain.yaml", no_compress);
  const std::string garbage = d.write("garbage.mcm", "this is not a model\n");
  struct Bad {
    std::string name, args, message;
  };
  const std::string fx = mc::test::resnet8_fixture();
  const std::vector<Bad> cases = {
      {"unknown_layer", fx + " --recipe " + good + " --layers layer9.conv1",
       "analyze: --layers glob 'layer9.conv1' matches no weight layer; weight layers are: conv1, layer1.0.conv1"},
      {"no_compressing_stage", fx + " --recipe " + plain,
       plain + ":9:1: analyze: the recipe has no compressing stage (its stages: finetune, evaluate)"},
      {"missing_model", d.file("nothere.mcm") + " --recipe " + good, "analyze: MODEL '" + d.file("nothere.mcm") + "' does not exist"},
      {"not_a_model", garbage + " --recipe " + good, "analyze: MODEL '" + garbage + "' does not load: "},
  };
  for (const Bad& b : cases) {
    SCOPED_TRACE(b.name);
    const std::string out = d.file(b.name);
    auto r = run_compress("-q analyze " + b.args + " --out " + out);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find(b.message), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("error: ", r.out.find("error: ") + 1), std::string::npos) << "one message: " << r.out;
    EXPECT_FALSE(fs::exists(out)) << "half-written output";
  }
}

// Channel pruning changes every weight's shape: no layer can be reverted, the output says so per
// layer, and only the output layer (same [N, 10] output) has a cumulative SQNR.
TEST(Analyze, ChannelPruningIsReportedAsNotRevertible) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  const std::string recipe = d.write(
      "ch.yaml", "name: ch\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + mc::test::resnet8_fixture() +
                     ", input: {shape: [1, 1, 28, 28]}}\ndata:\n"
                     "  val: {dataset: fashion_mnist, limit: 100, batch_size: 100, transform: fmnist_eval, shuffle: false}\n"
                     "stages:\n  - prune_channels: {criterion: l1, ratio: 0.5, target: macs, scope: uniform}\n"
                     "report: {formats: [json], latency: false}\n");
  auto r = run_compress("-q analyze " + mc::test::resnet8_fixture() + " --recipe " + recipe + " --out " + d.file("out") +
                        " --sqnr-samples 16");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("the recipe changes the graph, so 'only this layer' cannot be built"), std::string::npos) << r.out;
  const auto a = mc::test::read_json(d.file("out/report.json"))["stages"][1]["details"]["analysis"];
  EXPECT_TRUE(a["graph_changed"].get<bool>());
  EXPECT_FALSE(a["revert_exact"].get<bool>());
  ASSERT_EQ(a["layers"].size(), 10u);
  for (const auto& l : a["layers"]) {
    SCOPED_TRACE(l.dump());
    EXPECT_FALSE(l["revertible"].get<bool>());
    EXPECT_NE(l["note"].get<std::string>().find("(channel pruning): the float layer does not fit the compressed graph"),
              std::string::npos);
    EXPECT_TRUE(l["sqnr_only_db"].is_null() && l["top1_reverted"].is_null());
    EXPECT_EQ(l["sqnr_cumulative_db"].is_number(), l["layer"] == "fc");
  }
  EXPECT_EQ(a["layers"][0]["layer"], "fc") << "the only layer with a figure ranks first";
}
