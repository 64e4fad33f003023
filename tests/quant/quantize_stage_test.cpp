// The `quantize` stage end to end through `compress` on the trained resnet8 fixture (Fashion-MNIST,
// 2000 test images), calibration-file reuse, and recipe errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "ir/model.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {

using mc::test::read_json;

std::string recipe(const std::string& stage) {
  return "name: ptq\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + mc::test::resnet8_fixture() + R"(, input: {shape: [1, 1, 28, 28]}}
data:
  train: {dataset: fashion_mnist, batch_size: 128, transform: fmnist_eval}
  val: {dataset: fashion_mnist, limit: 2000, batch_size: 500, transform: fmnist_eval, shuffle: false}
  calib: {from: train, samples: 512}
stages:
  - )" + stage + "\nreport: {formats: [json], latency: false}\n";
}

}  // namespace

TEST(QuantizeStage, Int8PtqOnTrainedResnet8LosesAtMostAThirdOfAPoint) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  auto r = run_compress("--recipe " + d.write("r.yaml", recipe("quantize: {mode: ptq}")) + " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = read_json(d.file("run/report.json"));
  double fp = rep["stages"][0]["metrics"]["top1"].get<double>();
  double q8 = rep["stages"][1]["metrics"]["top1"].get<double>();
  EXPECT_GT(fp, 0.8);
  EXPECT_GE(q8, fp - 0.003) << "float " << fp << " int8 " << q8;
  auto det = rep["stages"][1]["details"];
  EXPECT_EQ(det["weight_quantizers"].get<int>(), 10);  // 9 convs (incl. 2 downsample) + fc
  EXPECT_GE(det["activation_quantizers"].get<int>(), 10);
  EXPECT_EQ(det["calibration"]["samples"].get<int>(), 512);
  EXPECT_EQ(det["layers"]["fc"]["weight_bits"].get<int>(), 8);
  // Bytes as stored: int8 weights are a quarter of float (plus float biases and scales).
  double b0 = rep["stages"][0]["metrics"]["bytes_stored"].get<double>(), b1 = rep["stages"][1]["metrics"]["bytes_stored"].get<double>();
  EXPECT_LT(b1, 0.3 * b0) << b0 << " " << b1;

  // calib.json: one entry per activation quantizer, reusable without data.
  auto calib = read_json(d.file("run/calib.json"));
  EXPECT_EQ(calib["quantizers"].size(), det["activation_quantizers"].get<size_t>());
  for (auto& [name, e] : calib["quantizers"].items()) {
    EXPECT_GT(e["scale"].get<double>(), 0) << name;
    EXPECT_EQ(e["zero_point"].get<int>(), 0) << name;  // symmetric int8
    EXPECT_LE(e["min"].get<double>(), e["max"].get<double>()) << name;
    EXPECT_EQ(e["observer"], "minmax");
  }
  std::string reuse = recipe("quantize: {calib_file: " + d.file("run/calib.json") + "}");
  reuse.replace(reuse.find("  calib: {from: train, samples: 512}\n"), 37, "");
  auto r2 = run_compress("--recipe " + d.write("r2.yaml", reuse) + " --out " + d.file("run2") + " -q");
  ASSERT_EQ(r2.exit_code, 0) << r2.out;
  auto rep2 = read_json(d.file("run2/report.json"));
  EXPECT_EQ(rep2["stages"][1]["metrics"]["top1"].get<double>(), q8);
}

TEST(QuantizeStage, MseObserverW4WithBiasCorrectionAndEqualizationRuns) {
  TempDir d;
  auto r = run_compress("--recipe " +
                        d.write("r.yaml",
                              recipe("quantize: {activations: {observer: mse}, weights: {bits: 4}, "
                                     "layers: {fc: {weights: {bits: 8}}}, cross_layer_equalization: true, "
                                     "bias_correction: true, calib_samples: 256}")) +
                        " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = read_json(d.file("run/report.json"));
  auto det = rep["stages"][1]["details"];
  EXPECT_EQ(det["calibration"]["samples"].get<int>(), 256);
  EXPECT_EQ(det["layers"]["fc"]["weight_bits"].get<int>(), 8);
  EXPECT_EQ(det["layers"]["conv1"]["weight_bits"].get<int>(), 4);
  EXPECT_EQ(det["cross_layer_equalization"]["pairs"].size(), 3u);  // conv1 -> conv2 of each block
  EXPECT_EQ(det["bias_correction"]["layers"].size(), 10u);
  double fp = rep["stages"][0]["metrics"]["top1"].get<double>();
  // 4-bit weights by round-to-nearest PTQ (no AdaRound yet) cost the 2-epoch model ~9 points here.
  EXPECT_GE(rep["stages"][1]["metrics"]["top1"].get<double>(), fp - 0.12);
  auto calib = read_json(d.file("run/calib.json"));
  for (auto& [name, e] : calib["quantizers"].items()) EXPECT_EQ(e["observer"], "mse") << name;
}

TEST(QuantizeStage, RecipeErrorsAreReportedWithLocations) {
  TempDir d;
  std::string p = d.write("bad.yaml", recipe("quantize: {mode: qat, bias_correction: true, weights: {bits: 9}, activations: {bits: 1, "
                                              "qscheme: per_channel_symmetric, observer: kl}, layers: {fc: {weights: {bitz: 4}}}}"));
  auto r = run_compress("validate " + p);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("'stages.0.quantize.weights.bits' = 9 is out of range"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'stages.0.quantize.activations.bits' = 1 is out of range"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'stages.0.quantize.activations.qscheme' = per_channel_symmetric: activation quantizers are per tensor"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("'stages.0.quantize.bias_correction' is a post-training correction; with mode: qat"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown key 'bitz' in 'stages.0.quantize.layers.fc.weights' (did you mean 'bits'?)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(p + ":10:"), std::string::npos) << r.out;  // the stage entry's line
  auto ra = run_compress("validate " + d.write("adds.yaml", recipe("quantize: {adds: some}")));
  EXPECT_EQ(ra.exit_code, 2) << ra.out;
  EXPECT_NE(ra.out.find("'stages.0.quantize.adds' = 'some' is not one of: all, integer"), std::string::npos) << ra.out;

  // No calibration data and no calib_file: refused before anything runs.
  std::string nocalib = recipe("quantize: {}");
  nocalib.replace(nocalib.find("  calib: {from: train, samples: 512}\n"), 37, "");
  auto r2 = run_compress("--recipe " + d.write("nocalib.yaml", nocalib) + " --out " + d.file("run"));
  EXPECT_EQ(r2.exit_code, 2) << r2.out;
  EXPECT_NE(r2.out.find("stage 'quantize' needs 'data.calib'"), std::string::npos) << r2.out;
  EXPECT_FALSE(fs::exists(d.file("run")));

  // A per-channel axis the layer's weight lacks: named at run time with key and location.
  auto r3 = run_compress("--recipe " +
                         d.write("axis.yaml", recipe("quantize: {layers: {fc: {weights: {ch_axis: 3}}}, calib_samples: 64}")) +
                         " --out " + d.file("run3"));
  EXPECT_EQ(r3.exit_code, 2) << r3.out;
  EXPECT_NE(r3.out.find("'stages.0.quantize.layers.fc.weights'"), std::string::npos) << r3.out;
  EXPECT_NE(r3.out.find("op 'linear' at scope 'fc'"), std::string::npos) << r3.out;

  // An exclude glob matching no scope: at run time, at that glob's own location, listing the scopes.
  const std::string glob = d.write("glob.yaml", recipe("quantize: {exclude: [fc, \"layer9.*\"], calib_samples: 64}"));
  auto r4 = run_compress("--recipe " + glob + " --out " + d.file("run4"));
  EXPECT_EQ(r4.exit_code, 2) << r4.out;
  EXPECT_NE(r4.out.find(glob + ":10:30: quantize: stages.0.quantize.exclude glob 'layer9.*' matches no layer scope; "
                        "layer scopes are: conv1, "),
            std::string::npos)
      << r4.out;
  EXPECT_NE(r4.out.find("`compress inspect MODEL` lists the scopes"), std::string::npos) << r4.out;

  // A malformed glob: at validation.
  const std::string bracket = d.write("bracket.yaml", recipe("quantize: {layers: {\"layer[1\": {weights: {bits: 4}}}}"));
  auto r5 = run_compress("validate " + bracket);
  EXPECT_EQ(r5.exit_code, 2) << r5.out;
  EXPECT_NE(r5.out.find(bracket + ":10:"), std::string::npos) << r5.out;
  EXPECT_NE(r5.out.find("'stages.0.quantize.layers' glob 'layer[1': '[' at column 6 has no closing ']'"),
            std::string::npos)
      << r5.out;
}

TEST(QuantizeStage, MixedPrecisionChoosesBitsPerLayerWithinTheBudget) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  auto r = run_compress("--recipe " +
                        d.write("r.yaml",
                              recipe("quantize: {mixed_precision: {candidates: [8, 4, 2], average_bits: 5, batches: 2}, "
                                     "layers: {fc: {weights: {bits: 8}}}}")) +
                        " --out " + d.file("run") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = read_json(d.file("run/report.json"));
  auto det = rep["stages"][1]["details"];
  auto mp = det["mixed_precision"];
  EXPECT_LE(mp["average_bits"].get<double>(), 5.0);
  EXPECT_EQ(mp["samples"].get<int>(), 256);
  EXPECT_EQ(mp["overridden"], nlohmann::json::array({"fc"}));
  ASSERT_EQ(mp["layers"].size(), 10u);
  int narrowed = 0;
  for (auto& row : mp["layers"]) {
    const std::string layer = row["layer"];
    // The report's per-layer bits are the ones the quantizers got.
    EXPECT_EQ(det["layers"][layer]["weight_bits"], row["bits"]) << layer;
    if (layer == "fc") {
      EXPECT_FALSE(row["chosen"].get<bool>());
      EXPECT_EQ(row["bits"].get<int>(), 8);
    }
    if (row["bits"].get<int>() < 8) ++narrowed;
    EXPECT_GT(row["loss_increase_2"].get<double>(), row["loss_increase_8"].get<double>()) << layer;
  }
  EXPECT_GE(narrowed, 3);
  // Stored bytes follow the chosen bits: below the uniform int8 model's (a quarter of float).
  double b0 = rep["stages"][0]["metrics"]["bytes_stored"].get<double>(), b1 = rep["stages"][1]["metrics"]["bytes_stored"].get<double>();
  EXPECT_LT(b1, 0.22 * b0) << b0 << " " << b1;
  EXPECT_GT(rep["stages"][1]["metrics"]["top1"].get<double>(), rep["stages"][0]["metrics"]["top1"].get<double>() - 0.05);

  std::string bad = d.write("bad.yaml", recipe("quantize: {mixed_precision: {candidates: [8, 9, 4], average_bits: 3}}"));
  auto e = run_compress("validate " + bad);
  EXPECT_EQ(e.exit_code, 2) << e.out;
  EXPECT_NE(e.out.find(bad + ":10:46: 'stages.0.quantize.mixed_precision.candidates' holds 9: weight bit-widths are 2..8"),
            std::string::npos)
      << e.out;
  EXPECT_NE(e.out.find(bad + ":10:71: 'stages.0.quantize.mixed_precision.average_bits' = 3 is below the narrowest candidate (4 bits)"),
            std::string::npos)
      << e.out;
}

// mode: dynamic and smooth_quant through the stage: option errors at their keys; a dynamic run
// needs no calibration data and its export multiplies in integer (MatMulInteger); smooth_quant on a
// CNN says which linear it kept and why.
TEST(QuantizeStage, DynamicModeAndSmoothQuantThroughTheStage) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  const std::string cf = d.write("calib.json", "{}");
  const std::string bad = d.write("bad.yaml", recipe("quantize: {mode: dynamic, calib_file: " + cf +
                                                     ", bias_correction: true, smooth_quant: {alpha: 1.5}}"));
  auto r = run_compress("validate " + bad);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("'stages.0.quantize.calib_file' applies to static quantization; mode: dynamic"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'stages.0.quantize.bias_correction' applies to static quantization"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'stages.0.quantize.smooth_quant.alpha' = 1.5 is out of range"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(bad + ":10:"), std::string::npos) << r.out;

  // Dynamic without data.calib: runs; fc (the one linear) is quantized, the convs stay float.
  std::string nocalib = recipe("quantize: {mode: dynamic}\n  - export: {onnx: q.onnx}");
  nocalib.replace(nocalib.find("  calib: {from: train, samples: 512}\n"), 37, "");
  auto r2 = run_compress("--recipe " + d.write("dyn.yaml", nocalib) + " --out " + d.file("run") + " -q");
  ASSERT_EQ(r2.exit_code, 0) << r2.out;
  auto rep = read_json(d.file("run/report.json"));
  auto det = rep["stages"][1]["details"];
  EXPECT_EQ(det["mode"], "dynamic");
  EXPECT_EQ(det["weight_quantizers"].get<int>(), 1);
  EXPECT_EQ(det["dynamic_activation_quantizers"].get<int>(), 1);
  EXPECT_EQ(det["layers"]["fc"]["weight_bits"].get<int>(), 8);
  double fp = rep["stages"][0]["metrics"]["top1"].get<double>(), dq = rep["stages"][1]["metrics"]["top1"].get<double>();
  EXPECT_GE(dq, fp - 0.005) << "float " << fp << " dynamic int8 " << dq;
  std::ifstream onnx(d.file("run/q.onnx"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(onnx)), std::istreambuf_iterator<char>());
  EXPECT_NE(bytes.find("MatMulInteger"), std::string::npos);
  EXPECT_NE(bytes.find("DynamicQuantizeLinear"), std::string::npos);

  // smooth_quant on resnet8: no LayerNorm, so nothing is smoothed and fc is listed with the reason.
  auto r3 = run_compress("--recipe " + d.write("sq.yaml", recipe("quantize: {smooth_quant: true, calib_samples: 64}")) +
                         " --out " + d.file("run3") + " -q");
  ASSERT_EQ(r3.exit_code, 0) << r3.out;
  auto sq = read_json(d.file("run3/report.json"))["stages"][1]["details"]["smooth_quant"];
  EXPECT_EQ(sq["alpha"].get<double>(), 0.5);
  EXPECT_TRUE(sq["smoothed"].empty());
  EXPECT_NE(sq["skipped"]["fc"].get<std::string>().find("not a LayerNorm"), std::string::npos) << sq.dump();
}
