// data.calib as a dataset of its own without labels (an images .npy, a flat folder of PNGs):
// PTQ through `compress` calibrates exactly as on the same images given with labels, stages that
// read labels refuse an unlabelled calib set at `compress validate` time, and training data still
// needs labels.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "data/mnist.h"
#include "data/npy.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::read_json;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {

constexpr int64_t kImages = 96;

// The first kImages Fashion-MNIST test images as x.npy (uint8 N x 1 x 28 x 28) and y.npy, as a
// flat folder flat/NNN.png and as a class folder classes/<label>/NNN.png (OpenCV, lossless).
void write_calib_sets(const TempDir& d) {
  auto ds = mc::data::open_mnist(mc::data::kDefaultFashionMnistDir, "test", "fashion_mnist", "data.val");
  at::Tensor x = ds->images().slice(0, 0, kImages).contiguous();
  at::Tensor y = ds->labels().slice(0, 0, kImages).contiguous();
  ASSERT_EQ(x.scalar_type(), at::kByte);
  mc::data::write_npy(d.file("x.npy"), x);
  mc::data::write_npy(d.file("y.npy"), y);
  fs::create_directories(d.file("flat"));
  for (int64_t i = 0; i < kImages; ++i) {
    cv::Mat m(28, 28, CV_8UC1, x[i][0].data_ptr<uint8_t>());
    char name[16];
    std::snprintf(name, sizeof name, "%03lld.png", static_cast<long long>(i));
    const std::string cls = d.file("classes/" + std::to_string(y[i].item<int64_t>()));
    fs::create_directories(cls);
    ASSERT_TRUE(cv::imwrite(d.file("flat/") + name, m));
    ASSERT_TRUE(cv::imwrite(cls + "/" + name, m));
  }
}

// Line 7 holds data.calib, line 8 data.train, line 10 the stage.
std::string recipe(const std::string& calib, const std::string& stage,
                   const std::string& train = "{dataset: fashion_mnist, limit: 256, transform: fmnist_eval}") {
  return "name: calib\nseed: 0\nthreads: 1\nmodel: {checkpoint: " + mc::test::resnet8_fixture() +
         ", input: {shape: [1, 1, 28, 28]}}\ndata:\n  val: {dataset: fashion_mnist, limit: 64, transform: fmnist_eval}\n"
         "  calib: " + calib + "\n  train: " + train + "\nstages:\n  - " + stage +
         "\nreport: {formats: [json], latency: false, per_layer: false}\n";
}

}  // namespace

TEST(UnlabelledCalib, PtqCalibratesAsOnTheSameImagesWithLabels) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  write_calib_sets(d);
  const std::string n = ", samples: " + std::to_string(kImages) + "}";
  const std::vector<std::pair<std::string, std::string>> sets = {
      {"npy_labelled", "{dataset: npy, path: " + d.file("x.npy") + ", labels: " + d.file("y.npy") + n},
      {"npy_unlabelled", "{dataset: npy, path: " + d.file("x.npy") + n},
      {"folder_unlabelled", "{dataset: imagefolder, channels: 1, path: " + d.file("flat") + n},
      {"folder_labelled", "{dataset: imagefolder, channels: 1, path: " + d.file("classes") + n},
  };
  std::map<std::string, nlohmann::json> calib;
  for (const auto& [name, set] : sets) {
    SCOPED_TRACE(name);
    auto r = run_compress("--recipe " + d.write(name + ".yaml", recipe(set, "quantize: {mode: ptq}")) + " --out " +
                          d.file(name) + " -q");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    calib[name] = read_json(d.file(name + "/calib.json"));
    EXPECT_EQ(calib[name]["samples"], kImages);
  }
  const nlohmann::json& ref = calib["npy_labelled"]["quantizers"];
  ASSERT_GE(ref.size(), 9u);  // one per conv input, residual add, pool, fc
  for (const auto& [name, c] : calib) {
    SCOPED_TRACE(name);
    ASSERT_EQ(c["quantizers"].size(), ref.size());
    // The same images give the same observed ranges, so the same qparams, bit for bit.
    for (const auto& [q, e] : ref.items()) {
      EXPECT_EQ(c["quantizers"][q]["scale"], e["scale"]) << q;
      EXPECT_EQ(c["quantizers"][q]["zero_point"], e["zero_point"]) << q;
      EXPECT_EQ(c["quantizers"][q]["min"], e["min"]) << q;
      EXPECT_EQ(c["quantizers"][q]["max"], e["max"]) << q;
    }
  }
  // The calib set's images are really used: a calibration on other images observes other ranges.
  auto r = run_compress("--recipe " + d.write("other.yaml", recipe("{from: train, samples: 256}", "quantize: {mode: ptq}")) +
                        " --out " + d.file("other") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto other = read_json(d.file("other/calib.json"))["quantizers"];
  int differ = 0;
  for (const auto& [q, e] : ref.items()) differ += other[q]["max"] != e["max"];
  EXPECT_GT(differ, 0);
}

TEST(UnlabelledCalib, StagesThatReadLabelsAreRefusedAtValidation) {
  TempDir d;
  write_calib_sets(d);
  const std::string npy = "{dataset: npy, path: " + d.file("x.npy") + "}";
  const std::string flat = "{dataset: imagefolder, channels: 1, path: " + d.file("flat") + "}";
  struct Case {
    std::string name, calib, stage, message;
  };
  const std::vector<Case> bad = {
      {"mixed_precision", npy, "quantize: {mixed_precision: {candidates: [8, 4], average_bits: 6}}",
       "stage 'quantize' needs labels on 'data.calib' (mixed_precision measures the loss increase per layer)"},
      {"evaluate", flat, "evaluate: {split: calib}", "stage 'evaluate' needs labels on 'data.calib'"},
      {"prune_blocks", npy, "prune_blocks: {count: 1}",
       "stage 'prune_blocks' needs labels on 'data.calib' (count: ranks blocks by the loss increase)"},
      {"taylor", flat, "prune_channels: {ratio: 0.5, criterion: taylor}",
       "stage 'prune_channels' needs labels on 'data.calib' (criterion: taylor"},
  };
  for (const Case& c : bad) {
    SCOPED_TRACE(c.name);
    const std::string path = d.write(c.name + ".yaml", recipe(c.calib, c.stage));
    auto r = run_compress("validate " + path);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find(path + ":10:5: " + c.message), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("data.calib (" + path + ":7:"), std::string::npos) << r.out;  // where the calib set is
    EXPECT_EQ(r.out.find("error: ", r.out.find("error: ") + 1), std::string::npos) << r.out;  // one message
  }
  // Calibration, bias correction and AdaRound read images only.
  for (const std::string& stage : {std::string("quantize: {mode: ptq, bias_correction: true}"),
                                   std::string("quantize: {weights: {bits: 4}, adaround: {iterations: 10}}")}) {
    auto r = run_compress("validate " + d.write("ok.yaml", recipe(npy, stage)));
    EXPECT_EQ(r.exit_code, 0) << stage << "\n" << r.out;
  }
}

TEST(UnlabelledCalib, TrainingDataStillNeedsLabels) {
  TempDir d;
  write_calib_sets(d);
  const std::string labelled = "{dataset: npy, path: " + d.file("x.npy") + ", labels: " + d.file("y.npy") + "}";
  struct Case {
    std::string name, calib, train, message, where;
  };
  const std::vector<Case> bad = {
      {"npy_train", labelled, "{dataset: npy, path: " + d.file("x.npy") + "}",
       "no labels file given for " + d.file("x.npy") + " (set data.train.labels", ":8:"},
      {"flat_train", labelled, "{dataset: imagefolder, channels: 1, path: " + d.file("flat") + "}",
       d.file("flat") + " has no class subdirectories", ":8:"},
      {"from_and_dataset", "{from: val, dataset: npy, path: " + d.file("x.npy") + "}", labelled,
       "'data.calib' has both 'from: val' and 'dataset: npy': give one", ":7:"},
  };
  for (const Case& c : bad) {
    SCOPED_TRACE(c.name);
    const std::string path = d.write(c.name + ".yaml", recipe(c.calib, "quantize: {mode: ptq}", c.train));
    auto r = run_compress("validate " + path);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(path + c.where), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("error: ", r.out.find("error: ") + 1), std::string::npos) << r.out;
  }
}
