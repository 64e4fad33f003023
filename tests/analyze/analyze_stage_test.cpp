// The `analyze` stage inside a recipe: after quantize, its figures are those of the model at that
// point against the model as loaded (the runner's own top-1 of both, on the same images, agree).
#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::read_json;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {

// Line 10 holds the analyze stage.
std::string recipe(const std::string& analyze) {
  return "name: st\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + mc::test::resnet8_fixture() +
         ", input: {shape: [1, 1, 28, 28]}}\n"
         "data:\n"
         "  val: {dataset: fashion_mnist, limit: 200, batch_size: 100, transform: fmnist_eval, shuffle: false}\n"
         "  calib: {from: val, samples: 64}\n"
         "stages:\n"
         "  - quantize: {mode: ptq, weights: {bits: 4}}\n"
         "  - analyze: " + analyze + "\n"
         "report: {formats: [json], latency: false}\n";
}

}  // namespace

TEST(AnalyzeStage, AfterQuantizeComparesTheModelThenWithTheModelAsLoaded) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  auto r = run_compress("-q --recipe " + d.write("r.yaml", recipe("{layers: [conv1, fc], sqnr_samples: 16}")) + " --out " +
                        d.file("run"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto rep = read_json(d.file("run/report.json"));
  const auto& a = rep["stages"][2]["details"]["analysis"];
  ASSERT_EQ(a["layers"].size(), 2u) << a.dump(1);
  EXPECT_TRUE(a["revert_exact"].get<bool>()) << a.dump(1);
  EXPECT_EQ(a["val_samples"], 200);
  EXPECT_EQ(a["sqnr_samples"], 16);
  // The loaded fixture has its BatchNorms folded already, so F is the loaded model: the runner's
  // top-1 after load and after quantize, on the same 200 images, are the analysis' two figures.
  EXPECT_DOUBLE_EQ(a["top1_float"].get<double>(), rep["stages"][0]["metrics"]["top1"].get<double>());
  EXPECT_DOUBLE_EQ(a["top1_compressed"].get<double>(), rep["stages"][1]["metrics"]["top1"].get<double>());
  for (const auto& l : a["layers"]) {
    SCOPED_TRACE(l.dump());
    EXPECT_TRUE(l["sqnr_only_db"].is_number() && l["sqnr_cumulative_db"].is_number() && l["top1_reverted"].is_number());
  }
}

TEST(AnalyzeStage, AGlobThatMatchesNoLayerIsAnErrorAtItsLocation) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  const std::string path = d.write("r.yaml", recipe("{layers: [layer9]}"));
  auto r = run_compress("-q --recipe " + path + " --out " + d.file("run"));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(path + ":10:24: analyze: layers glob 'layer9' matches no weight layer"), std::string::npos) << r.out;
}
