// `compress analyze` end to end on the trained resnet8 fixture (Fashion-MNIST) with 4-bit weight
// PTQ: the layers are ranked by SQNR, and reverting the top-ranked layer recovers more top-1 than
// reverting the median layer or a layer drawn at random; bad input is refused with exit code 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::read_json;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {

// Val images of the ranking test (see the figures measured there).
constexpr int64_t kValImages = 1000;

// W4 per-channel weights (nearest rounding), 8-bit per-tensor activations; a finetune and an
// export that analyze skips. Line 9 is `stages:`.
std::string w4_recipe(int64_t val_limit) {
  return "name: w4\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + mc::test::resnet8_fixture() +
         ", input: {shape: [1, 1, 28, 28]}}\n"
         "data:\n"
         "  train: {dataset: fashion_mnist, batch_size: 128, transform: fmnist_eval}\n"
         "  val: {dataset: fashion_mnist, limit: " + std::to_string(val_limit) +
         ", batch_size: 500, transform: fmnist_eval, shuffle: false}\n"
         "  calib: {from: train, samples: 256}\n"
         "stages:\n"
         "  - quantize: {mode: ptq, weights: {bits: 4, qscheme: per_channel_symmetric}, "
         "activations: {bits: 8, qscheme: per_tensor_symmetric, observer: minmax}}\n"
         "  - finetune: {epochs: 1}\n"
         "  - export: {onnx: w4.onnx}\n"
         "report: {formats: [json, md, html], latency: false}\n";
}

}  // namespace

TEST(Analyze, W4Resnet8TopRankedLayerRecoversMoreTop1ThanTheMedianAndARandomLayer) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  const std::string recipe = d.write("w4.yaml", w4_recipe(kValImages));
  auto r = run_compress("analyze " + mc::test::resnet8_fixture() + " --recipe " + recipe + " --out " + d.file("out") +
                        " --sqnr-samples 128 -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto rep = read_json(d.file("out/report.json"));
  const auto& a = rep["stages"][1]["details"]["analysis"];
  const auto& layers = a["layers"];
  std::cout << r.out;

  // Every weight layer of resnet8 (stem, 3 blocks x 2 convs, 2 shortcut convs, fc), revertible.
  ASSERT_EQ(layers.size(), 10u) << a.dump(1);
  EXPECT_EQ(rep["stages"][1]["details"]["stages_run"], nlohmann::json({"quantize"}));
  EXPECT_EQ(rep["stages"][1]["details"]["stages_skipped"], nlohmann::json({"finetune", "export"}));
  // Reverting every layer gives back the float model exactly (the BatchNorms were folded before
  // the quantize stage ran, so it changed nothing but the quantizers).
  EXPECT_TRUE(a["revert_exact"].get<bool>()) << a.dump(1);
  const double f = a["top1_float"], c = a["top1_compressed"];
  EXPECT_LT(c, f) << "4-bit weights cost accuracy";

  // Every figure of every layer: the graph is unchanged, so each layer has an "only this layer"
  // model; the first layer's input is the model input, so both its SQNRs are one figure.
  for (size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(layers[i]["layer"].get<std::string>());
    EXPECT_EQ(layers[i]["rank"], i + 1);
    ASSERT_TRUE(layers[i]["sqnr_only_db"].is_number());
    ASSERT_TRUE(layers[i]["sqnr_cumulative_db"].is_number());
    ASSERT_TRUE(layers[i]["top1_reverted"].is_number());
    if (layers[i]["layer"] == "conv1")
      EXPECT_DOUBLE_EQ(layers[i]["sqnr_only_db"].get<double>(), layers[i]["sqnr_cumulative_db"].get<double>());
  }

  // Ranked worst first by the top-1 recovered by reverting the layer (measured on these images).
  for (size_t i = 1; i < layers.size(); ++i)
    EXPECT_GE(layers[i - 1]["top1_reverted"].get<double>(), layers[i]["top1_reverted"].get<double>());

  // The ranking is a property of the layers, not of the images: on 1000 other images (the first
  // of the training split), reverting the top-ranked layer recovers at least as much as reverting
  // the median-ranked layer and more than reverting a layer drawn at random (seeded).
  const size_t median = layers.size() / 2;
  std::mt19937 rng(12345);
  const size_t random = 1 + std::uniform_int_distribution<size_t>(0, layers.size() - 2)(rng);
  const std::string top_name = layers[0]["layer"], median_name = layers[median]["layer"],
                    random_name = layers[random]["layer"];
  auto h = run_compress("analyze " + mc::test::resnet8_fixture() + " --recipe " + recipe + " --out " + d.file("heldout") +
                        " --set data.val.split=train --sqnr-samples 16 --layers " + top_name + " --layers " +
                        median_name + " --layers " + random_name + " -q");
  ASSERT_EQ(h.exit_code, 0) << h.out;
  const auto held = read_json(d.file("heldout/report.json"))["stages"][1]["details"]["analysis"];
  std::map<std::string, double> recovery;
  for (const auto& l : held["layers"]) recovery[l["layer"].get<std::string>()] = l["recovery"].get<double>();
  ASSERT_EQ(recovery.count(top_name) + recovery.count(median_name) + recovery.count(random_name), 3u) << held.dump(1);
  EXPECT_GE(recovery[top_name], recovery[median_name]) << held.dump(1);
  EXPECT_GT(recovery[top_name], recovery[random_name]) << held.dump(1);
  // MEASURED

  // The report: a table in report.md, two charts with a bar per layer (and series) in report.html.
  std::ifstream md(d.file("out/report.md"));
  const std::string md_text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(md_text.find("## Which layer breaks accuracy"), std::string::npos);
  EXPECT_NE(md_text.find("| " + layers[0]["layer"].get<std::string>()), std::string::npos);
  std::ifstream html(d.file("out/report.html"));
  const std::string page((std::istreambuf_iterator<char>(html)), std::istreambuf_iterator<char>());
  for (const std::string id : {"chart-analysis-sqnr-1", "chart-analysis-top1-1"}) {
    const size_t at = page.find("id=\"" + id + "\"");
    ASSERT_NE(at, std::string::npos) << id;
    const std::string chart = page.substr(at, page.find("</svg>", at) - at);
    size_t bars = 0;
    for (size_t p = chart.find("class=\"bar\""); p != std::string::npos; p = chart.find("class=\"bar\"", p + 1)) ++bars;
    // Bars of value 0 (a layer whose revert changes no prediction) are still drawn.
    EXPECT_EQ(bars, id == "chart-analysis-sqnr-1" ? 2 * layers.size() : layers.size()) << id;
  }
  // The printed table names every layer.
  for (const auto& l : layers) EXPECT_NE(r.out.find(l["layer"].get<std::string>()), std::string::npos);
}

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
    auto r = run_compress("analyze " + b.args + " --out " + out + " -q");
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find(b.message), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("error: ", r.out.find("error: ") + 1), std::string::npos) << "one message: " << r.out;
    EXPECT_FALSE(fs::exists(out)) << "half-written output";
  }
}
