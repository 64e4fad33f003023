// The quantized global average pool (src/ir/ops/pool.cpp, placed by insert_qdq): where the planner
// quantizes a global pool's input and output with one quantizer, the pool computes ONNX Runtime's
// integer QLinearGlobalAveragePool (what ORT runs for DequantizeLinear -> GlobalAveragePool ->
// QuantizeLinear). Checked bit for bit against ORT on random uint8/int8 grids, with the training
// gradients (straight-through, LSQ step size) of the float form it replaces.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <iostream>

#include "export/export_test_util.h"
#include "ir/model.h"
#include "ir/pass_test_util.h"
#include "quantization/insert_qdq.h"
#include "runtime/executor.h"

using namespace mc::quant;
using mc::ir::Model;
using mc::ir::pass_test::make;

namespace {

struct Grid {
  const char* name;
  int64_t qmin, qmax;
  bool random_zero_point;
};

// x -> fake_quant -> adaptive_avg_pool2d -> fake_quant, one quantizer (scale `s`, zero point `z`).
// `integer`: the pool gets the grid (as insert_qdq builds it); else the float mean of before.
// `learned`: the scale is a param (LSQ).
Model pool_model(int64_t c, int64_t h, int64_t w, const Grid& g, float s, int64_t z, bool integer, bool learned = false) {
  const std::string grid = "quant_min=" + std::to_string(g.qmin) + ", quant_max=" + std::to_string(g.qmax);
  const std::string text = "graph(%x: f32[1," + std::to_string(c) + "," + std::to_string(h) + "," + std::to_string(w) +
                           "]) {\n  %s = " + (learned ? "param" : "constant") + "[name=\"q.scale\"]() @q\n" +
                           "  %z = constant[name=\"q.zero_point\"]() @q\n" +
                           "  %xq = fake_quant[" + grid + "](%x, %s, %z) @q\n" +
                           (integer ? "  %p = adaptive_avg_pool2d[output_size=[1,1], " + grid + "](%xq, %s, %z) @pool\n"
                                    : std::string("  %p = adaptive_avg_pool2d[output_size=[1,1]](%xq) @pool\n")) +
                           "  %y = fake_quant[" + grid + "](%p, %s, %z) @q\n  return(%y)\n}\n";
  return make(text, {{"q.scale", at::tensor({s})}, {"q.zero_point", at::tensor({z})}});
}

// Values near the grid's points (within 0.3 steps: both runtimes pick the same integers).
at::Tensor on_grid(int64_t n, int64_t c, int64_t h, int64_t w, const Grid& g, float s, int64_t z, at::Generator& gen) {
  at::Tensor q = at::randint(g.qmin, g.qmax + 1, {n, c, h, w}, gen).to(at::kFloat);
  at::Tensor noise = (at::rand({n, c, h, w}, gen) - 0.5) * 0.6;
  return (q - static_cast<float>(z) + noise) * s;
}

}  // namespace

TEST(QuantizedPool, PlannerGivesTheGlobalPoolItsQuantizersGrid) {
  at::manual_seed(0);
  const char* text = R"IR(graph(%x: f32[2,3,6,6]) {
  %w1 = param[name="conv1.weight"]() @conv1
  %c1 = conv2d[padding=[1,1]](%x, %w1) @conv1
  %r1 = relu(%c1) @relu1
  %p = adaptive_avg_pool2d[output_size=[1,1]](%r1) @pool
  %f = flatten[start_dim=1](%p) @flatten
  %wf = param[name="fc.weight"]() @fc
  %y = linear(%f, %wf) @fc
  %q = avg_pool2d[kernel=[2,2]](%r1) @window
  %w2 = param[name="conv2.weight"]() @conv2
  %c2 = conv2d(%q, %w2) @conv2
  return(%y, %c2)
}
)IR";
  Model m = make(text, {{"conv1.weight", at::randn({4, 3, 3, 3})}, {"fc.weight", at::randn({5, 4})}, {"conv2.weight", at::randn({2, 4, 1, 1})}});
  QuantConfig cfg;
  cfg.activations.qscheme = "per_tensor_affine";
  cfg.activations.dtype = "quint8";
  insert_qdq(m, plan_qdq(m, cfg), {});
  const mc::ir::Node* pool = m.graph.find_value("p")->producer();
  ASSERT_EQ(pool->inputs().size(), 3u) << pool->describe();
  const mc::ir::Node* in = pool->input(0)->producer();
  ASSERT_EQ(in->op(), "fake_quant");
  EXPECT_EQ(pool->input(1), in->input(1));
  EXPECT_EQ(pool->input(2), in->input(2));
  EXPECT_EQ(pool->attrs().i("quant_min"), 0);
  EXPECT_EQ(pool->attrs().i("quant_max"), 255);
  for (const mc::ir::Node* u : pool->output()->users()) EXPECT_EQ(u->op(), "fake_quant");
  // A windowed pool keeps the float mean (ORT's QLinearAveragePool averages in float).
  EXPECT_EQ(m.graph.find_value("q")->producer()->inputs().size(), 1u);
  mc::runtime::Executor(m).run({at::randn({2, 3, 6, 6})});
}

// ORT's output of Q -> DQ -> GlobalAveragePool -> Q -> DQ (fused into QLinearGlobalAveragePool)
// equals our executor's bit for bit: uint8 and int8 grids with random scales and zero points, odd
// (7x7), power-of-two (8x8) and other even (6x6, 14x14) pool sizes (even sizes make exact ties
// acc / N = k + 1/2, which ORT resolves through its float multiplier s / (s N)), batch 1 and 3.
// The float mean followed by fake_quant (before this pool existed) is compared too: it differs
// from ORT on some outputs (printed), which is what this test guards.
TEST(QuantizedPool, EqualsOrtQLinearGlobalAveragePoolBitForBit) {
  const std::vector<Grid> grids = {{"uint8", 0, 255, true}, {"int8_symmetric", -128, 127, false}, {"int8_affine", -128, 127, true}};
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{7, 7}, {8, 8}, {6, 6}, {14, 14}};
  const int64_t c = 64;
  mc::test::TempDir dir;
  auto gen = mc::test::export_gen(11);
  int64_t float_form_differs = 0, outputs = 0;
  for (const Grid& g : grids)
    for (auto [h, w] : sizes) {
      const float s = static_cast<float>(std::exp(at::empty({1}).uniform_(std::log(1e-3), std::log(0.1), gen).item<double>()));
      const int64_t z = g.random_zero_point ? at::randint(g.qmin, g.qmax + 1, {1}, gen).item<int64_t>() : 0;
      SCOPED_TRACE(std::string(g.name) + " " + std::to_string(h) + "x" + std::to_string(w) + " scale " + std::to_string(s) +
                   " zero point " + std::to_string(z));
      Model m = pool_model(c, h, w, g, s, z, /*integer=*/true);
      const std::string onnx = dir.file(std::string(g.name) + std::to_string(h) + ".onnx");
      mc::exporter::export_onnx(m, onnx);
      const auto hist = mc::test::ort_optimized_histogram(onnx);
      EXPECT_EQ(hist.count("com.microsoft.QLinearGlobalAveragePool"), 1u) << mc::test::hist_str(hist);
      Model before = pool_model(c, h, w, g, s, z, /*integer=*/false);
      for (int64_t batch : {1, 3}) {
        const at::Tensor x = on_grid(batch, c, h, w, g, s, z, gen);
        const at::Tensor ours = mc::runtime::Executor(m).run1(x), ort = mc::test::run_ort(onnx, x);
        ASSERT_TRUE(ort.defined());
        ASSERT_EQ(ours.sizes(), ort.sizes());
        EXPECT_TRUE(at::equal(ours, ort)) << "batch " << batch << ": " << ours.ne(ort).sum().item<int64_t>() << " of "
                                          << ours.numel() << " differ, max " << (ours - ort).abs().max().item<double>();
        float_form_differs += mc::runtime::Executor(before).run1(x).ne(ort).sum().item<int64_t>();
        outputs += ort.numel();
      }
    }
  std::cout << "[ pool ] float mean + fake_quant differs from ORT on " << float_form_differs << " of " << outputs
            << " outputs; the integer pool on none\n";
  EXPECT_GT(float_form_differs, 0);
}

// Training: d y / d x is the float mean's (1 / N, straight-through), and with a learned scale the
// step-size gradient is the one the float form gave (ATen's learnable fake-quantize of the mean),
// checked on an odd pool size where both forms agree on every output.
TEST(QuantizedPool, TrainingGradientsAreThoseOfTheFloatMeanAndItsQuantizer) {
  const Grid g{"uint8", 0, 255, true};
  const float s = 0.02f;
  const int64_t z = 7, c = 16;
  auto gen = mc::test::export_gen(3);
  const at::Tensor x0 = on_grid(2, c, 7, 7, g, s, z, gen);
  auto grads = [&](bool integer) {
    Model m = pool_model(c, 7, 7, g, s, z, integer, /*learned=*/true);
    mc::runtime::Executor ex(m);
    auto params = ex.parameters();
    at::Tensor x = x0.clone().requires_grad_(true);
    at::Tensor y = ex.forward({x}, /*training=*/true).at(0);
    (y * at::arange(y.numel()).reshape(y.sizes())).sum().backward();  // a different weight per output
    return std::make_tuple(y.detach(), x.grad().clone(), params.at(0).grad().clone());
  };
  auto [y_int, dx_int, ds_int] = grads(true);
  auto [y_float, dx_float, ds_float] = grads(false);
  ASSERT_TRUE(at::equal(y_int, y_float)) << "pick inputs where both forms agree";
  at::Tensor weights = at::arange(2 * c).reshape({2, c, 1, 1}).to(at::kFloat) / 49.0;
  EXPECT_TRUE(at::allclose(dx_int, weights.expand_as(dx_int))) << "straight-through gradient of the mean";
  EXPECT_TRUE(at::allclose(dx_int, dx_float));
  EXPECT_TRUE(at::allclose(ds_int, ds_float, 1e-4, 1e-6)) << ds_int << " vs " << ds_float;
  EXPECT_NE(ds_int.item<double>(), 0.0);
}
