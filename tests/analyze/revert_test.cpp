// The pieces of `compress analyze` in process, on a two-layer MLP written in IR text: reverting
// layers (quantizers bypassed, float weights copied back) and the SQNR figures, checked against
// the same arithmetic done directly with ATen ops (linear, fake_quantize_per_tensor_affine).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "ir/model.h"
#include "pipeline/analyze.h"
#include "runtime/executor.h"

using namespace mc;

namespace {

// fc1 -> relu -> fc2. The compressed twin: fc1's weight fake-quantized to 3 bits (per tensor),
// fc2's input fake-quantized to 4 bits and half of fc2's weights zeroed (a pruning mask).
ir::Model mlp(bool compressed) {
  ir::Model m;
  m.graph = ir::Graph::parse(compressed ? R"IR(
graph(%x: f32[1,8]) {
  %w1 = param[name="fc1.weight"]() @fc1
  %s1 = constant[name="s1"]() @fc1
  %z1 = constant[name="z1"]() @fc1
  %q1 = fake_quant[quant_min=-4, quant_max=3](%w1, %s1, %z1) @fc1
  %b1 = param[name="fc1.bias"]() @fc1
  %h = linear(%x, %q1, %b1) @fc1
  %r = relu(%h) @act
  %s2 = constant[name="s2"]() @fc2
  %z2 = constant[name="z2"]() @fc2
  %qr = fake_quant[quant_min=0, quant_max=15](%r, %s2, %z2) @fc2
  %w2 = param[name="fc2.weight"]() @fc2
  %b2 = param[name="fc2.bias"]() @fc2
  %y = linear(%qr, %w2, %b2) @fc2
  return(%y)
}
)IR"
                                        : R"IR(
graph(%x: f32[1,8]) {
  %w1 = param[name="fc1.weight"]() @fc1
  %b1 = param[name="fc1.bias"]() @fc1
  %h = linear(%x, %w1, %b1) @fc1
  %r = relu(%h) @act
  %w2 = param[name="fc2.weight"]() @fc2
  %b2 = param[name="fc2.bias"]() @fc2
  %y = linear(%r, %w2, %b2) @fc2
  return(%y)
}
)IR");
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(7);
  m.tensors["fc1.weight"] = at::empty({16, 8}).normal_(0, 0.5, g);
  m.tensors["fc1.bias"] = at::empty({16}).normal_(0, 0.1, g);
  m.tensors["fc2.weight"] = at::empty({4, 16}).normal_(0, 0.5, g);
  m.tensors["fc2.bias"] = at::empty({4}).normal_(0, 0.1, g);
  if (compressed) {
    m.tensors["s1"] = at::full({1}, 0.25f);
    m.tensors["z1"] = at::zeros({1});
    m.tensors["s2"] = at::full({1}, 0.2f);
    m.tensors["z2"] = at::zeros({1});
    m.tensors["fc2.weight"] = m.tensors["fc2.weight"] * (at::arange(64).reshape({4, 16}).remainder(2) == 0);
  }
  m.infer_shapes();
  m.verify();
  return m;
}

at::Tensor run(const ir::Model& model, const at::Tensor& x) {
  ir::Model m = model.clone();
  runtime::Executor ex(m);
  return ex.run1(x);
}

double db(const at::Tensor& ref, const at::Tensor& y) {
  const double s = ref.to(at::kDouble).square().sum().item<double>();
  const double n = (ref.to(at::kDouble) - y.to(at::kDouble)).square().sum().item<double>();
  return 10 * std::log10(s / n);
}

}  // namespace

TEST(AnalyzeRevert, RevertingBypassesQuantizersAndRestoresFloatWeights) {
  const ir::Model f = mlp(false), c = mlp(true);
  const at::Tensor x = at::randn({32, 8}, at::make_generator<at::CPUGeneratorImpl>(1));
  const at::Tensor y_f = run(f, x);
  ASSERT_FALSE(run(c, x).equal(y_f));
  // Both layers reverted: the float model, bit for bit.
  EXPECT_TRUE(run(pipeline::revert_layers(c, f, {"fc1", "fc2"}), x).equal(y_f));
  // fc2 alone reverted: fc1 still 3-bit, fc2 float on its float input (no quantizer, no mask).
  const at::Tensor w1 = f.tensor("fc1.weight"), b1 = f.tensor("fc1.bias");
  const at::Tensor w2 = f.tensor("fc2.weight"), b2 = f.tensor("fc2.bias");
  const at::Tensor h_q = at::relu(at::linear(x, at::fake_quantize_per_tensor_affine(w1, 0.25, 0, -4, 3), b1));
  EXPECT_TRUE(run(pipeline::revert_layers(c, f, {"fc2"}), x).allclose(at::linear(h_q, w2, b2), 1e-6, 1e-6));
  // The model reverted is a copy: c keeps its quantizers and mask.
  EXPECT_TRUE(run(c, x).allclose(at::linear(at::fake_quantize_per_tensor_affine(h_q, 0.2, 0, 0, 15),
                                            c.tensor("fc2.weight"), b2),
                                 1e-6, 1e-6));
}

TEST(AnalyzeRevert, SqnrFiguresAreTheLayersOutputErrorsOnlyAndCumulative) {
  EXPECT_DOUBLE_EQ(pipeline::sqnr_db(100.0, 1.0), 20.0);
  EXPECT_TRUE(std::isinf(pipeline::sqnr_db(1.0, 0.0)));
  const ir::Model f = mlp(false), c = mlp(true);
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(3);
  pipeline::AnalysisData data;
  for (int i = 0; i < 2; ++i) {
    data::Batch b;
    b.images = at::randn({16, 8}, g);
    b.labels = at::randint(0, 4, {16}, g);
    data.sqnr.push_back(b);
    data.val.push_back(b);
  }
  const pipeline::Analysis a = pipeline::analyze_layers(f, c, {"fc1", "fc2"}, data);
  ASSERT_EQ(a.layers.size(), 2u);
  EXPECT_TRUE(a.revert_check_db && std::isinf(*a.revert_check_db));
  EXPECT_FALSE(a.graph_changed);
  EXPECT_EQ(a.sqnr_samples, 32);
  EXPECT_EQ(a.val_samples, 32);

  // The same figures from ATen ops, over both batches at once.
  const at::Tensor x = at::cat({data.sqnr[0].images, data.sqnr[1].images});
  const at::Tensor w1 = f.tensor("fc1.weight"), b1 = f.tensor("fc1.bias");
  const at::Tensor w2 = f.tensor("fc2.weight"), b2 = f.tensor("fc2.bias"), w2c = c.tensor("fc2.weight");
  auto q2 = [](const at::Tensor& t) { return at::fake_quantize_per_tensor_affine(t, 0.2, 0, 0, 15); };
  const at::Tensor h = at::linear(x, w1, b1);
  const at::Tensor h_q = at::linear(x, at::fake_quantize_per_tensor_affine(w1, 0.25, 0, -4, 3), b1);
  const at::Tensor y = at::linear(at::relu(h), w2, b2);
  const at::Tensor y_only = at::linear(q2(at::relu(h)), w2c, b2);      // fc2 compressed, fc1 float
  const at::Tensor y_cum = at::linear(q2(at::relu(h_q)), w2c, b2);     // both compressed
  for (const pipeline::LayerAnalysis& l : a.layers) {
    SCOPED_TRACE(l.scope);
    ASSERT_TRUE(l.sqnr_only_db && l.sqnr_cumulative_db && l.top1_reverted);
    // Sums over batches of float32 values in double: equal to ~1e-9 dB; 1e-6 leaves room.
    if (l.scope == "fc1") {
      EXPECT_NEAR(*l.sqnr_only_db, db(h, h_q), 1e-6);
      EXPECT_NEAR(*l.sqnr_cumulative_db, db(h, h_q), 1e-6);  // nothing before fc1
    } else {
      EXPECT_NEAR(*l.sqnr_only_db, db(y, y_only), 1e-6);
      EXPECT_NEAR(*l.sqnr_cumulative_db, db(y, y_cum), 1e-6);
    }
  }
  EXPECT_GE(*a.layers[0].top1_reverted, *a.layers[1].top1_reverted) << "ranked worst first";
  // Top-1 against the labels, directly.
  const at::Tensor labels = at::cat({data.val[0].labels, data.val[1].labels});
  auto top1 = [&](const at::Tensor& logits) { return logits.argmax(1).eq(labels).to(at::kDouble).mean().item<double>(); };
  EXPECT_DOUBLE_EQ(a.top1_float, top1(y));
  EXPECT_DOUBLE_EQ(a.top1_compressed, top1(y_cum));
  for (const pipeline::LayerAnalysis& l : a.layers)
    EXPECT_DOUBLE_EQ(*l.top1_reverted, top1(l.scope == "fc1" ? at::linear(q2(at::relu(h)), w2c, b2)
                                                             : at::linear(at::relu(h_q), w2, b2)))
        << l.scope;
}
