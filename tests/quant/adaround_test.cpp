// AdaRound (quantization/adaround.h): the rounding optimiser on single layers with random weights
// and inputs (its output error against a direct convolution, the grid), the quantize stage's
// `adaround:` option end to end on the 2-epoch resnet8 fixture, and its recipe errors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "ir/model.h"
#include "ir/passes/pass_util.h"
#include "quantization/adaround.h"
#include "quantization/quantizer.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using namespace mc::quant;
using mc::test::run_compress;
using mc::test::TempDir;

namespace {

LayerGeometry conv_geometry(int64_t k, int64_t stride, int64_t pad, int64_t groups) {
  LayerGeometry g;
  g.conv = true;
  g.kernel = {k, k};
  g.stride = {stride, stride};
  g.padding = {pad, pad};
  g.dilation = {1, 1};
  g.groups = groups;
  return g;
}

struct Grid {
  QuantSpec spec;
  QParams qp;
  WeightGrid grid;
};

Grid grid_of(const at::Tensor& w, int64_t bits, const std::string& qscheme) {
  Grid g;
  g.spec.bits = bits;
  g.spec.qscheme = qscheme;
  auto [lo, hi] = tensor_range(g.spec, w);
  g.qp = compute_qparams(g.spec, lo, hi);
  QRange r = qrange(g.spec);
  g.grid = {g.qp.scale, g.qp.zero_point, r.quant_min, r.quant_max};
  return g;
}

// Mean squared error per output element of the quantized layer on x_q against the float layer on x_f.
double direct_mse(const LayerGeometry& geo, const at::Tensor& x_q, const at::Tensor& wq, const at::Tensor& x_f,
                  const at::Tensor& w) {
  return (geo.apply(x_q, wq).to(at::kDouble) - geo.apply(x_f, w).to(at::kDouble)).square().mean().item<double>();
}

}  // namespace

TEST(AdaRound, SingleConvBeatsNearestRoundingOnTheSameGrid) {
  at::manual_seed(0);
  const at::Tensor w = at::randn({16, 8, 3, 3}) * 0.2;
  const at::Tensor x = at::randn({24, 8, 10, 10}).relu();
  const LayerGeometry geo = conv_geometry(3, 1, 1, 1);
  const Grid g = grid_of(w, 4, "per_channel_symmetric");
  LayerStats st;
  st.add(geo, x, geo.apply(x, w));
  AdaRoundOptions o;
  o.iterations = 400;
  RoundingResult r = adaround_weight(w, g.grid, st, o);

  // The statistics give the exact output error of the convolution over every row.
  const double mse_near = direct_mse(geo, x, r.nearest, x, w), mse_ada = direct_mse(geo, x, r.weight, x, w);
  EXPECT_NEAR(r.mse_nearest, mse_near, 1e-4 * mse_near);
  EXPECT_NEAR(r.mse_adaround, mse_ada, 1e-4 * mse_near);
  EXPECT_LT(mse_ada, 0.8 * mse_near) << "nearest " << mse_near << " adaround " << mse_ada;
  EXPECT_TRUE(at::equal(r.nearest, fake_quantize(g.spec, w, g.qp)));
  EXPECT_GT(r.changed, 0);
  EXPECT_EQ(r.changed, (r.weight != r.nearest).sum().item<int64_t>());

  // On the grid: the weight's own fake_quant (same scale and zero point) reproduces it bit for bit,
  // and every weight is floor or ceil of w / scale.
  EXPECT_TRUE(at::equal(fake_quantize(g.spec, r.weight, g.qp), r.weight));
  const at::Tensor s = g.qp.scale.to(at::kDouble).view({-1, 1, 1, 1});
  const at::Tensor q = r.weight.to(at::kDouble) / s, xs = w.to(at::kDouble) / s;
  EXPECT_LT((q - q.round()).abs().max().item<double>(), 1e-4);
  const at::Tensor qi = q.round();
  EXPECT_TRUE(((qi == at::floor(xs)) | (qi == at::ceil(xs))).all().item<bool>());
  EXPECT_GE(qi.min().item<double>(), -8);
  EXPECT_LE(qi.max().item<double>(), 7);
}

TEST(AdaRound, StatisticsMatchDirectErrorsForAsymmetricGroupedStridedAndLinearLayers) {
  at::manual_seed(1);
  AdaRoundOptions o;
  o.iterations = 60;
  {
    // Grouped, strided conv; quantized inputs differ from the float ones (asymmetric target).
    const at::Tensor w = at::randn({12, 2, 3, 3});
    const at::Tensor x_f = at::randn({6, 6, 9, 9});
    const at::Tensor x_q = at::fake_quantize_per_tensor_affine(x_f, 0.05, 0, -128, 127);
    const LayerGeometry geo = conv_geometry(3, 2, 1, 3);
    const Grid g = grid_of(w, 3, "per_channel_symmetric");
    LayerStats st;
    st.add(geo, x_q.slice(0, 0, 2), geo.apply(x_f.slice(0, 0, 2), w));  // two batches
    st.add(geo, x_q.slice(0, 2), geo.apply(x_f.slice(0, 2), w));
    EXPECT_EQ(st.rows, 6 * 5 * 5);
    RoundingResult r = adaround_weight(w, g.grid, st, o);
    const double near = direct_mse(geo, x_q, r.nearest, x_f, w);
    EXPECT_NEAR(r.mse_nearest, near, 1e-4 * near);
    EXPECT_NEAR(r.mse_adaround, direct_mse(geo, x_q, r.weight, x_f, w), 1e-4 * near);
    EXPECT_TRUE(at::equal(fake_quantize(g.spec, r.weight, g.qp), r.weight));
  }
  {
    // Linear with a per-tensor affine grid (zero point != 0) on 3-d inputs.
    LayerGeometry geo;
    const at::Tensor w = at::randn({5, 7}) + 0.5;
    const at::Tensor x = at::randn({4, 3, 7});
    const Grid g = grid_of(w, 2, "per_tensor_affine");
    ASSERT_NE(g.qp.zero_point.item<int64_t>(), 0);
    LayerStats st;
    st.add(geo, x, geo.apply(x, w));
    RoundingResult r = adaround_weight(w, g.grid, st, o);
    const double near = direct_mse(geo, x, r.nearest, x, w);
    EXPECT_NEAR(r.mse_nearest, near, 1e-4 * near);
    EXPECT_NEAR(r.mse_adaround, direct_mse(geo, x, r.weight, x, w), 1e-4 * near);
    EXPECT_TRUE(at::equal(fake_quantize(g.spec, r.weight, g.qp), r.weight));
    EXPECT_TRUE(at::equal(r.nearest, fake_quantize(g.spec, w, g.qp)));
  }
}

namespace {

using mc::test::read_json;

// Line 10 holds the quantize stage.
std::string recipe(const std::string& stage) {
  return "name: adaround\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + mc::test::resnet8_fixture() + R"(, input: {shape: [1, 1, 28, 28]}}
data:
  train: {dataset: fashion_mnist, batch_size: 128, transform: fmnist_eval}
  val: {dataset: fashion_mnist, limit: 300, batch_size: 300, transform: fmnist_eval, shuffle: false}
  calib: {from: train, samples: 128}
stages:
  - quantize: )" + stage + "\nreport: {formats: [json], latency: false}\n";
}

}  // namespace

TEST(AdaRound, QuantizeStageW4LowersEveryLayersErrorAndKeepsAccuracy) {
  ASSERT_TRUE(fs::exists(mc::test::resnet8_fixture())) << "run the fixtures.resnet8_fmnist test first";
  TempDir d;
  const std::string w4 = "{weights: {bits: 4}, layers: {fc: {weights: {bits: 8}}}";
  auto near = run_compress("--recipe " + d.write("near.yaml", recipe(w4 + "}")) + " --out " + d.file("near") + " -q");
  ASSERT_EQ(near.exit_code, 0) << near.out;
  auto ada = run_compress("--recipe " + d.write("ada.yaml", recipe(w4 + ", adaround: {iterations: 200, batches: 1}}")) +
                          " --out " + d.file("ada") + " -q");
  ASSERT_EQ(ada.exit_code, 0) << ada.out;
  auto rn = read_json(d.file("near/report.json")), ra = read_json(d.file("ada/report.json"));
  auto det = ra["stages"][1]["details"]["adaround"];
  EXPECT_EQ(det["samples"].get<int>(), 128);
  ASSERT_EQ(det["layers"].size(), 9u);  // every conv at 4 bits; fc stays at 8 bits, nearest
  EXPECT_EQ(det["skipped"]["fc"], "8 bits (all_bits: false)");
  for (auto& l : det["layers"]) {
    SCOPED_TRACE(l["layer"].get<std::string>());
    EXPECT_EQ(l["bits"].get<int>(), 4);
    EXPECT_LT(l["mse_adaround"].get<double>(), l["mse_nearest"].get<double>());
    EXPECT_GT(l["changed_fraction"].get<double>(), 0.0);
    EXPECT_LT(l["changed_fraction"].get<double>(), 0.5);
  }
  const double top_near = rn["stages"][1]["metrics"]["top1"].get<double>();
  const double top_ada = ra["stages"][1]["metrics"]["top1"].get<double>();
  EXPECT_GE(top_ada, top_near - 0.01) << "nearest " << top_near << " adaround " << top_ada;
  // Same quantizers, same stored bits: only the rounding differs.
  EXPECT_EQ(ra["stages"][1]["metrics"]["bytes_stored"], rn["stages"][1]["metrics"]["bytes_stored"]);

  // The checkpoint holds the AdaRounded weights on their grids: each 4-bit weight's fake_quant
  // reproduces the stored tensor exactly (with nearest rounding the stored weights stay float).
  for (const char* run : {"ada", "near"}) {
    SCOPED_TRACE(run);
    const mc::ir::Model m = mc::ir::Model::load(d.file(std::string(run) + "/ckpt/01_quantize.mcm"));
    int on_grid = 0, weights = 0;
    for (const mc::ir::Node* n : m.graph.nodes()) {
      if (n->op() != "fake_quant" || n->attrs().i("quant_max") != 7 || !n->input(0)->producer() ||
          n->input(0)->producer()->op() != "param")
        continue;
      ++weights;
      const at::Tensor w = m.tensor(n->input(0)->producer()->attrs().s("name"));
      if (at::equal(mc::ir::passes::static_value(m, n->output()), w)) ++on_grid;
    }
    EXPECT_EQ(weights, 9);
    EXPECT_EQ(on_grid, std::string(run) == "ada" ? 9 : 0);
  }
}

TEST(AdaRound, RecipeErrorsNameKeyAndLocationWithExitCode2) {
  TempDir d;
  struct Bad {
    std::string stage, message;
  };
  // One mistake per quantize stage; stage i is on line 10 + i. All are reported together.
  const std::vector<Bad> cases = {
      {"{weights: {bits: 4}, adaround: {iterations: 0}}",
       "'stages.0.quantize.adaround.iterations' = 0 is out of range: must be at least 1"},
      {"{weights: {bits: 4}, adaround: {reg_weight: -0.5}}",
       "'stages.1.quantize.adaround.reg_weight' = -0.5 is out of range: must be at least 0"},
      {"{weights: {bits: 4}, adaround: {beta: [2, 20]}}",
       "'stages.2.quantize.adaround.beta' = [2, 20] must be two positive numbers [start, end] with start >= end"},
      {"{weights: {bits: 4}, adaround: {beta: [20]}}", "'stages.3.quantize.adaround.beta' = [20] must be two positive numbers"},
      {"{weights: {bits: 4}, adaround: {beta: [20, 0]}}",
       "'stages.4.quantize.adaround.beta' = [20, 0] must be two positive numbers"},
      {"{mode: qat, weights: {bits: 4}, adaround: true}",
       "'stages.5.quantize.adaround' is a post-training rounding; with mode: qat the finetune learns the weights itself: "
       "remove it or use mode: ptq"},
      {"{adaround: {iterations: 10}}",
       "'stages.6.quantize.adaround' rounds weights of 4 bits or fewer, but every weight here has 8 bits or more; set "
       "'stages.6.quantize.weights.bits' (or a layer's weights.bits) to 4 or lower, or 'adaround.all_bits: true'"},
      {"{weights: {bits: 4}, bias_correction: true, adaround: true}",
       "'stages.7.quantize.adaround' and 'stages.7.quantize.bias_correction' together"},
      {"{weights: {bits: 4}, adaround: 3}", "'stages.8.quantize.adaround' must be a mapping of options"},
      {"{weights: {bits: 4}, adaround: {lr: 0}}", "'stages.9.quantize.adaround.lr' = 0 must be positive"},
  };
  std::string stages;
  for (const Bad& b : cases) stages += (stages.empty() ? "" : "\n  - quantize: ") + b.stage;
  const std::string path = d.write("bad.yaml", recipe(stages));
  const std::string out = d.file("run");
  auto r = run_compress("--recipe " + path + " --out " + out + " -q");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  // One message per mistake, plus the plan check's for the qat stage (no finetune follows it).
  EXPECT_NE(r.out.find("(" + std::to_string(cases.size() + 1) + " errors)"), std::string::npos)
      << "one message per mistake\n" << r.out;
  EXPECT_NE(r.out.find("'stages.5.quantize.mode' = qat trains the fake-quantized model in the next finetune stage"),
            std::string::npos) << r.out;
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].stage);
    const size_t at = r.out.find(cases[i].message);
    ASSERT_NE(at, std::string::npos) << r.out;
    // file:line:col of the offending value, on the message's own (indented) line.
    const size_t line_start = r.out.rfind('\n', at) + 3;
    EXPECT_EQ(r.out.compare(line_start, path.size() + 4, path + ":" + std::to_string(10 + i) + ":"), 0)
        << r.out.substr(line_start, at - line_start);
  }
  EXPECT_FALSE(fs::exists(out)) << "half-written output";

  // The shorthands: true is the defaults, false is off (8-bit weights are then fine).
  auto ok = run_compress("validate " + d.write("ok.yaml", recipe("{weights: {bits: 4}, adaround: true}\n  - quantize: "
                                                                 "{adaround: false}\n  - quantize: {adaround: {all_bits: true}}")));
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
}
