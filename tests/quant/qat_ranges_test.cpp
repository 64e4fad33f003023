// How QAT moves the quantization ranges (quantization/qat.h): a quantizer shared by several values
// (a concat's inputs) takes one moving-average step per training forward and quantizes all its
// values with the same scale within the forward; learned step sizes (LSQ) grow where clipping
// dominates, shrink where rounding dominates, and train to a lower loss than frozen scales.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <iostream>

#include "ir/model.h"
#include "ir/pass_test_util.h"
#include "ir/passes/pass_util.h"
#include "quantization/qat.h"
#include "runtime/executor.h"
#include "train/optimizer.h"

using namespace mc::quant;
using mc::ir::Model;
using mc::ir::pass_test::make;

namespace {

const char* kConcat = R"IR(graph(%x: f32[2,3,5,5]) {
  %w1 = param[name="a.weight"]() @a
  %a = conv2d[padding=[1,1]](%x, %w1) @a
  %w2 = param[name="b.weight"]() @b
  %b = conv2d[padding=[1,1]](%x, %w2) @b
  %c = cat[dim=1](%a, %b) @cat
  %w3 = param[name="head.weight"]() @head
  %y = conv2d(%c, %w3) @head
  return(%y)
}
)IR";

const ActivationQuantizer& quantizer_of(const QuantPlan& plan, const std::vector<std::string>& values) {
  for (auto& a : plan.activations)
    if (a.values == values) return a;
  throw std::runtime_error("no activation quantizer for the given values");
}

mc::train::TrainContext context(Model& m, mc::runtime::Executor& ex) {
  mc::train::TrainContext ctx;
  ctx.model = &m;
  ctx.executor = &ex;
  ctx.epochs = 1;
  return ctx;
}

}  // namespace

// One training forward of a concat of a small-range and a large-range conv output (one quantizer,
// seeded with the calibrated range [-1, 1]): both fake_quants ran with the seeded scale, and
// afterwards the moving average took exactly one step with the range of both values:
// min <- min + c (min(a, b) - min), likewise max (torch.ao's moving-average formula).
// (torch.ao shares one FakeQuantize module between a cat's inputs, which observes at each call:
// two steps per forward and a scale changed between the two inputs; the deployed model has one
// scale for both.)
TEST(QatRanges, SharedQuantizerMovesOncePerForwardAndUsesOneScaleWithinIt) {
  at::manual_seed(0);
  Model m = make(kConcat, {{"a.weight", at::randn({4, 3, 3, 3}) * 0.1}, {"b.weight", at::randn({4, 3, 3, 3}) * 2.0},
                           {"head.weight", at::randn({2, 8, 1, 1})}});
  QuantConfig cfg;
  QuantPlan plan = plan_qdq(m, cfg);
  const ActivationQuantizer& cat = quantizer_of(plan, {"a", "b"});
  Calibration calib;
  for (auto& a : plan.activations) {
    calib.qparams[a.name] = compute_qparams(a.spec, at::scalar_tensor(-1.0f), at::scalar_tensor(1.0f));
    calib.entries[a.name]["range"] = {-1.0, 1.0};
  }
  auto inserted = insert_qdq(m, plan, calib.qparams);
  QatOptions o;
  o.averaging_constant = 0.1;
  QatModifier mod(prepare_qat(m, plan, inserted, &calib, o));
  const std::string scale = cat.name + ".scale";
  const float s0 = m.tensors.at(scale).item<float>();

  mc::runtime::Executor ex(m);
  // Hooks added before the modifier's: they see each fake_quant's scale right after it ran.
  std::vector<float> used;
  for (auto* n : m.graph.nodes())
    if (n->op() == "fake_quant" && mc::ir::passes::source_tensor_name(n->input(1)) == scale)
      ex.add_hook(n->output()->name(), [&](const mc::ir::Value&, const at::Tensor&) { used.push_back(m.tensors.at(scale).item<float>()); });
  at::Tensor va, vb;
  ex.add_hook("a", [&](const mc::ir::Value&, const at::Tensor& t) { va = t.detach().clone(); });
  ex.add_hook("b", [&](const mc::ir::Value&, const at::Tensor& t) { vb = t.detach().clone(); });
  auto ctx = context(m, ex);
  mod.on_train_begin(ctx);
  mod.on_epoch_begin(ctx, 0);
  ex.forward({at::randn({2, 3, 5, 5})}, /*training=*/true);

  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0], s0);
  EXPECT_EQ(used[1], s0);
  ASSERT_GT(vb.abs().max().item<double>(), 5 * va.abs().max().item<double>()) << "the two inputs should differ in range";
  const float c = 0.1f;
  at::Tensor lo = at::scalar_tensor(-1.0f), hi = at::scalar_tensor(1.0f);
  lo = lo + c * (at::minimum(va.min(), vb.min()) - lo);
  hi = hi + c * (at::maximum(va.max(), vb.max()) - hi);
  const float want = compute_qparams(cat.spec, lo, hi).scale.item<float>();
  EXPECT_FLOAT_EQ(m.tensors.at(scale).item<float>(), want) << "from " << s0;
  // The next forward quantizes both with the updated scale.
  used.clear();
  ex.forward({at::randn({2, 3, 5, 5})}, true);
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0], want);
  EXPECT_EQ(used[1], want);
}

namespace {

const char* kTwoBranches = R"IR(graph(%x: f32[64,8]) {
  %w1 = param[name="a.weight"]() @a
  %a = linear(%x, %w1) @a
  %w2 = param[name="b.weight"]() @b
  %b = linear(%x, %w2) @b
  %y = add(%a, %b) @sum
  return(%y)
}
)IR";

struct LsqRun {
  double loss0 = 0, loss = 0;       // MSE to the float model before and after training
  float clip0 = 0, clip = 0;         // scale of the quantizer of a (starts clipping 90 % of the range)
  float round0 = 0, round = 0;       // scale of the quantizer of b (starts 10x too coarse)
};

// 150 AdamW steps (lr 1e-3) on the weights (and, with `learn`, the scales) of the two-branch model,
// fitting the float model's outputs on 64 fixed samples.
LsqRun train_two_branches(bool learn) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({64, 8}), w1 = at::randn({8, 8}) * 0.5, w2 = at::randn({8, 8}) * 0.5;
  const at::Tensor target = at::linear(x, w1) + at::linear(x, w2);
  Model m = make(kTwoBranches, {{"a.weight", w1.clone()}, {"b.weight", w2.clone()}});
  QuantConfig cfg;
  QuantPlan plan = plan_qdq(m, cfg);
  const std::string qa = quantizer_of(plan, {"a"}).name, qb = quantizer_of(plan, {"b"}).name;
  auto symmetric = [](double amax) { return QParams{at::tensor({static_cast<float>(amax / 127.5)}), at::zeros({1}, at::kLong)}; };
  std::map<std::string, QParams> qp;
  qp[quantizer_of(plan, {"x"}).name] = symmetric(x.abs().max().item<double>());
  qp[qa] = symmetric(0.1 * at::linear(x, w1).abs().max().item<double>());   // clipping dominates
  qp[qb] = symmetric(10.0 * at::linear(x, w2).abs().max().item<double>());  // rounding dominates
  auto inserted = insert_qdq(m, plan, qp);
  QatOptions o;
  o.learn_scale = learn;
  o.freeze_observers_epoch = learn ? -1 : 0;  // frozen: the scales stay as given
  QatModifier mod(prepare_qat(m, plan, inserted, nullptr, o));
  mc::runtime::Executor ex(m);
  mc::train::OptimizerSpec spec;
  spec.type = "adamw";
  spec.lr = 1e-3;
  mc::train::AdamW opt(spec, ex.parameters(), ex.parameter_names());
  auto ctx = context(m, ex);
  ctx.optimizer = &opt;
  mod.on_train_begin(ctx);
  mod.on_epoch_begin(ctx, 0);
  auto mse = [&] { return (ex.run1(x) - target).pow(2).mean().item<double>(); };
  LsqRun r;
  r.loss0 = mse();
  r.clip0 = m.tensors.at(qa + ".scale").item<float>();
  r.round0 = m.tensors.at(qb + ".scale").item<float>();
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    (ex.forward({x}, /*training=*/true).at(0) - target).pow(2).mean().backward();
    opt.step();
    mod.on_step_end(ctx);
  }
  r.loss = mse();
  r.clip = m.tensors.at(qa + ".scale").item<float>();
  r.round = m.tensors.at(qb + ".scale").item<float>();
  return r;
}

}  // namespace

// LSQ's step-size gradient is (round(x/s) - x/s) inside the grid and the grid's end outside it:
// against a reconstruction loss it grows a scale whose clipping error dominates and shrinks one
// whose rounding error dominates. Same data, steps and optimizer with the scales frozen leave the
// loss higher. Measured: clipped scale 0.0029 -> 0.0246 (8.5x), coarse scale 0.447 -> 0.308 (0.69x:
// AdamW's ~lr per step, every step), loss 0.85 -> 0.0081 against 0.42 with frozen scales (0.02x).
TEST(QatLsq, ClippedScaleGrowsCoarseScaleShrinksAndLossFallsBelowFrozenScales) {
  const LsqRun lsq = train_two_branches(true), frozen = train_two_branches(false);
  std::cout << "[ lsq ] clipped scale " << lsq.clip0 << " -> " << lsq.clip << ", coarse scale " << lsq.round0 << " -> "
            << lsq.round << "; loss " << lsq.loss0 << " -> " << lsq.loss << " (frozen scales: " << frozen.loss << ")\n";
  EXPECT_GT(lsq.clip, 2 * lsq.clip0);
  EXPECT_LT(lsq.round, 0.8 * lsq.round0);
  EXPECT_EQ(frozen.clip, frozen.clip0);
  EXPECT_EQ(frozen.round, frozen.round0);
  EXPECT_LT(lsq.loss, 0.1 * frozen.loss);
  EXPECT_LT(lsq.loss, lsq.loss0);
}
