// Bad PTQ input through `compress`: each is refused before anything runs, with exit code 2, one
// message naming the recipe key (or dataset) and file:line:col, and no run directory left behind.
// (Global bits / per-channel activations / a missing calib section: quantize_stage_test.cpp.)
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>

#include "data/npy.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {


// Line 8 holds the calib split, line 10 the quantize stage.
std::string recipe(const std::string& train, const std::string& calib, const std::string& stage) {
  return "name: ptq\nseed: 0\nthreads: 1\nmodel: {checkpoint: " + mc::test::resnet8_fixture() +
         ", input: {shape: [1, 1, 28, 28]}}\ndata:\n  train: " + train + "\n  val: {dataset: fashion_mnist, limit: 64}\n  calib: " +
         calib + "\nstages:\n  - quantize: " + stage + "\nreport: {formats: [json], latency: false}\n";
}

struct Bad {
  std::string name, train, calib, stage, message, where;
};

}  // namespace

TEST(PtqErrors, BadInputIsRefusedWithKeyLocationAndExitCode2) {
  TempDir d;
  const std::string fm = "{dataset: fashion_mnist, batch_size: 64, transform: fmnist_eval}";
  // An empty dataset: zero images, zero labels.
  mc::data::write_npy(d.file("x.npy"), at::zeros({0, 1, 28, 28}, at::kFloat));
  mc::data::write_npy(d.file("y.npy"), at::zeros({0}, at::kLong));
  const std::string empty = "{dataset: npy, path: " + d.file("x.npy") + ", labels: " + d.file("y.npy") + ", batch_size: 8}";
  const std::vector<Bad> cases = {
      {"layer_bits", fm, "{from: train, samples: 64}", "{mode: ptq, layers: {\"layer1.*\": {weights: {bits: 12}}}}",
       "'stages.0.quantize.layers.layer1.*.weights.bits' = 12 is out of range: must be between 2 and 8", ":10:"},
      {"layer_per_channel_activations", fm, "{from: train, samples: 64}",
       "{mode: ptq, layers: {fc: {activations: {qscheme: per_channel_symmetric}}}}",
       "'stages.0.quantize.layers.fc.activations.qscheme' = per_channel_symmetric: activation quantizers are per tensor",
       ":10:"},
      {"calib_samples_0", fm, "{from: train, samples: 0}", "{mode: ptq}",
       "'recipe.data.calib.samples' = 0 is out of range: must be between 1 and", ":8:"},
      {"empty_calib_dataset", empty, "{from: train, samples: 16}", "{mode: ptq}", "the dataset is empty",
       ":8:"},
  };
  for (const Bad& b : cases) {
    SCOPED_TRACE(b.name);
    const std::string path = d.file(b.name + "/ptq.yaml");
    fs::create_directories(d.file(b.name));
    std::ofstream(path) << recipe(b.train, b.calib, b.stage);
    const std::string out = d.file(b.name + "/run");
    auto r = run_compress("--recipe " + path + " --out " + out + " -q");
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.out.find(b.message), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(path + b.where), std::string::npos) << r.out;
    // One message per mistake: nothing else in the recipe is wrong.
    EXPECT_EQ(r.out.find("error: ", r.out.find("error: ") + 1), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(out)) << "half-written output";
  }
}
