// Static INT8 PTQ of a transformer encoder (tests/quant/tiny_encoder.h): every linear and both
// activation inputs of the attention matmuls (q k^T, attn v) are quantized, LayerNorm / softmax /
// gelu stay float; in ONNX Runtime's optimised graph the linears and matmuls run as integer ops;
// ORT's output matches our executor's; the TensorRT checker passes it.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <iostream>
#include <map>
#include <sstream>
#include <set>

#include "data/loader.h"
#include "export/export_test_util.h"
#include "export/onnx_export.h"
#include "export/tensorrt_check.h"
#include "ir/model.h"
#include "quantization/calibrate.h"
#include "quantization/dynamic_quant.h"
#include "quantization/smooth_quant.h"
#include "quantization/insert_qdq.h"
#include "ir/pass_test_util.h"
#include "quant/tiny_encoder.h"
#include "runtime/executor.h"
#include "support/test_env.h"

namespace mc::quant {
namespace {

using ir::Model;

std::shared_ptr<data::DataLoader> token_loader(const at::Tensor& x, int64_t batch = 32) {
  auto ds = std::make_shared<test::TokenDataset>(x);
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.shuffle = false;
  lo.num_workers = 0;
  return std::make_shared<data::DataLoader>(ds, lo);
}

// PTQ as the quantize stage does it (plan, min-max calibration, insert), with `cfg`.
void ptq(Model& m, const at::Tensor& calib, const QuantConfig& cfg = {}) {
  QuantPlan plan = plan_qdq(m, cfg);
  ObserverOptions obs;
  auto loader = token_loader(calib);
  Calibration c = calibrate(m, plan, obs, *loader);
  insert_qdq(m, plan, c.qparams);
}

// Which op each fake_quant's value feeds (through reshape/transpose), to check the placement.
std::multiset<std::string> quantized_consumers(const Model& m) {
  std::multiset<std::string> ops;
  for (const ir::Node* n : m.graph.nodes()) {
    if (n->op() != "fake_quant") continue;
    for (const ir::Node* u : n->output()->users()) ops.insert(u->op());
  }
  return ops;
}

TEST(TransformerPtq, QuantizesLinearsAndBothMatmulInputsNotNormsSoftmaxGelu) {
  test::EncoderShape s;
  s.blocks = 1;
  Model m = test::tiny_encoder(s);
  ptq(m, test::encoder_tokens(64, s));
  for (const ir::Node* n : m.graph.nodes()) {
    const std::string& op = n->op();
    if (op == "linear" || op == "matmul")
      for (size_t i = 0; i < 2; ++i) {
        const ir::Node* p = n->input(i)->producer();
        if (p && p->op() == "reshape") p = p->input(0)->producer();  // shares its input's quantizer
        EXPECT_TRUE(p && p->op() == "fake_quant") << n->describe() << " input " << i << " is not quantized";
      }
    if (op == "layer_norm" || op == "softmax" || op == "gelu") {
      const ir::Node* p = n->input(0)->producer();
      EXPECT_FALSE(p && p->op() == "fake_quant") << n->describe() << " reads a fake_quant";
    }
  }
  // 6 linear weights; linear inputs: one quantizer for q, k, v (3 readers), fc1, fc2, and the
  // out-projection's through its reshape; 2 x 2 matmul inputs; 2 x 2 residual-add inputs.
  const auto consumers = quantized_consumers(m);
  EXPECT_EQ(consumers.count("linear"), 6u + 5u);
  EXPECT_EQ(consumers.count("reshape"), 1u);
  EXPECT_EQ(consumers.count("matmul"), 4u);
  EXPECT_EQ(consumers.count("add"), 4u);
  EXPECT_EQ(consumers.count("layer_norm") + consumers.count("softmax") + consumers.count("gelu"), 0u);
}

}  // namespace
}  // namespace mc::quant

namespace mc::quant {
namespace {

double rel_error(const at::Tensor& ref, const at::Tensor& got) {
  return ((got - ref).norm() / ref.norm()).item<double>();
}

// Static PTQ of the two-block encoder, exported: ONNX Runtime runs every linear and both attention
// matmuls as integer ops, and its output matches our executor's.
TEST(TransformerPtq, OrtRunsLinearsAndAttentionMatmulsInInteger) {
  test::EncoderShape s;
  Model m = test::tiny_encoder(s);
  ptq(m, test::encoder_tokens(64, s));
  test::TempDir dir;
  const std::string onnx = dir.file("enc_int8.onnx");
  exporter::export_onnx(m, onnx);
  const auto hist = test::ort_optimized_histogram(onnx);
  std::cout << "[ ort ] optimised graph: " << test::hist_str(hist) << "\n";
  auto count = [&](const char* op) { return hist.count(op) ? hist.at(op) : 0; };
  // 12 linears (3-d input: MatMul + bias Add) and 4 attention matmuls, all integer: ORT makes a
  // MatMul between DQs QLinearMatMul when a Q follows it (attn v, re-quantized for the
  // out-projection), else MatMulIntegerToFloat.
  EXPECT_EQ(count("com.microsoft.MatMulIntegerToFloat") + count("QLinearMatMul") + count("com.microsoft.QGemm"), 16)
      << test::hist_str(hist);
  EXPECT_GT(count("QLinearMatMul"), 0);
  EXPECT_EQ(count("MatMul") + count("Gemm") + count("com.microsoft.FusedMatMul"), 0) << test::hist_str(hist);
  EXPECT_EQ(count("Softmax"), 2);  // softmax stays float
  const exporter::TrtCheckResult trt = exporter::check_tensorrt_file(onnx);
  std::ostringstream trt_text;
  for (const auto& n : trt.nodes) trt_text << n.op << " " << n.node << (n.int8 ? " INT8" : " float: " + n.reason) << "\n";
  for (const auto& v : trt.violations) trt_text << "[" << v.rule << "] " << v.message << "\n";
  std::cout << "[ tensorrt ] " << trt.int8_nodes() << " of " << trt.nodes.size() << " compute nodes in INT8\n" << trt_text.str();
  EXPECT_TRUE(trt.violations.empty());
  EXPECT_EQ(trt.float_nodes(), 0);
  for (const at::Tensor& x : {test::encoder_tokens(1, s, 21), test::encoder_tokens(3, s, 22)}) {
    const at::Tensor ours = runtime::Executor(m).run1(x);
    const at::Tensor unopt = test::run_ort(onnx, x, "disabled"), opt = test::run_ort(onnx, x, "all");
    ASSERT_TRUE(unopt.defined() && opt.defined());
    std::cout << "[ ort ] batch " << x.size(0) << ": |ORT(no opt) - ours| / |ours| = " << rel_error(ours, unopt)
              << ", |ORT(opt) - ours| / |ours| = " << rel_error(ours, opt) << "\n";
    // Float rounding only (measured: identical outputs at both levels); one quantization step
    // flipped anywhere changes the output by ~1e-2 of its norm.
    EXPECT_LT(rel_error(ours, unopt), 1e-5);
    EXPECT_LT(rel_error(ours, opt), 1e-5);
  }
}

}  // namespace
}  // namespace mc::quant

// ------------------------------------------------------------------------------------------------
// SmoothQuant

namespace mc::quant {
namespace {

const std::vector<int64_t> kOutliers = {3, 7, 12};

// The LayerNorm outputs of the encoder (what SmoothQuant measures and rescales).
std::vector<std::string> norm_outputs(const Model& m) {
  std::vector<std::string> v;
  for (const ir::Node* n : m.graph.nodes())
    if (n->op() == "layer_norm") v.push_back(n->output()->name());
  return v;
}

// `adds: integer`: the residual adds feed LayerNorm and the next residual add only, so none gets
// quantized inputs; the linears and the attention matmuls keep theirs. In ONNX Runtime the file
// loses the Q/DQ pairs around the residual Adds (4 adds x 2 inputs: 8 QuantizeLinear and 8
// DequantizeLinear fewer in the optimised graph), runs the same integer matmuls, and matches our
// executor as closely as the default placement does.
TEST(TransformerPtq, IntegerAddsOnlyLeavesTheResidualStreamFloat) {
  test::EncoderShape s;
  const at::Tensor calib = test::encoder_tokens(64, s);
  Model all = test::tiny_encoder(s), integer = test::tiny_encoder(s);
  ptq(all, calib);
  QuantConfig cfg;
  cfg.integer_adds_only = true;
  ptq(integer, calib, cfg);
  const auto ca = quantized_consumers(all), ci = quantized_consumers(integer);
  EXPECT_EQ(ca.count("add"), 8u);
  EXPECT_EQ(ci.count("add"), 0u);
  for (const char* op : {"linear", "matmul", "reshape"}) EXPECT_EQ(ci.count(op), ca.count(op)) << op;
  test::TempDir dir;
  std::map<std::string, std::map<std::string, int>> hist;
  for (const auto& [name, m] : std::vector<std::pair<std::string, Model*>>{{"all", &all}, {"integer", &integer}}) {
    const std::string onnx = dir.file(name + ".onnx");
    exporter::export_onnx(*m, onnx);
    hist[name] = test::ort_optimized_histogram(onnx);
    const at::Tensor x = test::encoder_tokens(3, s, 23);
    const at::Tensor ours = runtime::Executor(*m).run1(x), ort = test::run_ort(onnx, x, "all");
    ASSERT_TRUE(ort.defined());
    EXPECT_LT(rel_error(ours, ort), 1e-5) << name;  // float rounding only, as in the test above
  }
  auto count = [&](const char* file, const char* op) { return hist[file].count(op) ? hist[file].at(op) : 0; };
  std::cout << "[ ort ] adds: all     " << test::hist_str(hist["all"]) << "\n[ ort ] adds: integer " << test::hist_str(hist["integer"]) << "\n";
  EXPECT_EQ(count("all", "QuantizeLinear") - count("integer", "QuantizeLinear"), 8);
  EXPECT_EQ(count("all", "DequantizeLinear") - count("integer", "DequantizeLinear"), 8);
  for (const char* op : {"com.microsoft.MatMulIntegerToFloat", "QLinearMatMul"})
    EXPECT_EQ(count("integer", op), count("all", op)) << op;
}

TEST(SmoothQuant, KeepsTheFloatModelAndShrinksRangesByThePredictedFactor) {
  test::EncoderShape s;
  Model m = test::tiny_encoder(s, 5, kOutliers, 30.0);
  Model before = m.clone();
  const at::Tensor calib = test::encoder_tokens(128, s);
  auto loader = token_loader(calib);
  auto [act_before, n_before] = channel_absmax(m, norm_outputs(m), *loader);
  SmoothQuantOptions o;
  o.alpha = 0.5;
  const SmoothQuantSummary sum = smooth_quant(m, *loader, o);
  EXPECT_EQ(sum.samples, 128);
  // Per block: ln1 -> q, k, v and ln2 -> fc1 smoothed; the out-projection (after reshape) and fc2
  // (after gelu) have no LayerNorm before them.
  ASSERT_EQ(sum.smoothed.size(), 4u);
  EXPECT_EQ(sum.smoothed[0].norm, "blocks.0.ln1");
  EXPECT_EQ(sum.smoothed[0].layers, (std::vector<std::string>{"blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.attn.v"}));
  EXPECT_EQ(sum.smoothed[1].layers, std::vector<std::string>{"blocks.0.mlp.fc1"});
  ASSERT_EQ(sum.skipped.size(), 4u);
  EXPECT_NE(sum.skipped.at("blocks.1.attn.proj").find("reshape"), std::string::npos) << sum.skipped.at("blocks.1.attn.proj");
  EXPECT_NE(sum.skipped.at("blocks.0.mlp.fc2").find("gelu"), std::string::npos) << sum.skipped.at("blocks.0.mlp.fc2");

  // The float function is unchanged (only float rounding: LN weight / s, W * s).
  const at::Tensor x = test::encoder_tokens(16, s, 31);
  const at::Tensor y0 = runtime::Executor(before).run1(x), y1 = runtime::Executor(m).run1(x);
  // Measured 1.2e-5 of the largest output (the 30x channels make the attention logits large, and
  // the softmax amplifies their float rounding); a wrong fold changes outputs by O(1).
  EXPECT_LT((y1 - y0).abs().max().item<double>(), 1e-4 * y0.abs().max().item<double>());

  // Each smoothed channel's max |X_j| is divided by s_j = max|X_j|^0.5 / max|W_:,j|^0.5.
  auto [act_after, n_after] = channel_absmax(m, norm_outputs(m), *loader);
  for (const SmoothedNorm& row : sum.smoothed) {
    const ir::Node* ln = nullptr;
    for (const ir::Node* n : m.graph.nodes())
      if (n->op() == "layer_norm" && n->scope() == row.norm) ln = n;
    ASSERT_NE(ln, nullptr);
    const std::string v = ln->output()->name();
    at::Tensor wmax;
    for (const std::string& layer : row.layers) {
      const at::Tensor w = before.tensor(layer + ".weight").abs().amax(0);
      wmax = wmax.defined() ? at::maximum(wmax, w) : w;
    }
    const at::Tensor sc = smoothing_scales(act_before.at(v), wmax, 0.5);
    const at::Tensor predicted = act_before.at(v) / sc;
    EXPECT_TRUE(at::allclose(act_after.at(v), predicted, 1e-4, 1e-6)) << row.norm << "\n" << act_after.at(v) << predicted;
    if (row.norm.find("ln1") != std::string::npos) {
      // The outlier channels are the ones that shrink most: the ratio of the largest to the median
      // channel range falls.
      const at::Tensor a0 = act_before.at(v), a1 = act_after.at(v);
      const double spread0 = (a0.max() / a0.median()).item<double>(), spread1 = (a1.max() / a1.median()).item<double>();
      std::cout << "[ smoothquant ] " << row.norm << ": max/median channel range " << spread0 << " -> " << spread1 << "\n";
      EXPECT_LT(spread1, spread0 / 3);
    }
  }
}

// On an encoder whose ln2 (fc1's input) scales three channels by 30 (activation outliers), INT8
// PTQ with SmoothQuant is closer to the float model than without. (With the outliers in ln1 the
// error is dominated by q and k: q k^T grows 900x on those channels and the softmax turns nearly
// one-hot, so a one-step change of q or k flips it; SmoothQuant does not touch q and k. Measured
// there: 0.296 -> 0.271.)
TEST(SmoothQuant, LowersTheInt8ErrorWithOutlierChannels) {
  test::EncoderShape s;
  Model fl = test::tiny_encoder(s, 5, kOutliers, 30.0, "ln2");
  const at::Tensor calib = test::encoder_tokens(128, s), x = test::encoder_tokens(64, s, 41);
  const at::Tensor ref = runtime::Executor(fl).run1(x);
  Model plain = fl.clone();
  ptq(plain, calib);
  Model smoothed = fl.clone();
  auto loader = token_loader(calib);
  SmoothQuantOptions o;
  smooth_quant(smoothed, *loader, o);
  ptq(smoothed, calib);
  const double e_plain = rel_error(ref, runtime::Executor(plain).run1(x));
  const double e_smooth = rel_error(ref, runtime::Executor(smoothed).run1(x));
  Model clean = test::tiny_encoder(s, 5);  // the same weights without the outliers
  const at::Tensor ref_clean = runtime::Executor(clean).run1(x);
  ptq(clean, calib);
  const double e_clean = rel_error(ref_clean, runtime::Executor(clean).run1(x));
  std::cout << "[ smoothquant ] INT8 relative output error: " << e_plain << " without, " << e_smooth
            << " with SmoothQuant (" << e_clean << " for the model without outliers)\n";
  EXPECT_LT(e_smooth, e_plain);
}

}  // namespace
}  // namespace mc::quant

// ------------------------------------------------------------------------------------------------
// Dynamic INT8

namespace mc::quant {
namespace {

// dynamic_quant computes what ONNX Runtime's DynamicQuantizeLinear -> DequantizeLinear computes, bit
// for bit: ranges on both sides of 0, one-sided ranges (zero point at an end), all zeros (scale 1),
// values on exact ties of the grid.
TEST(DynamicQuant, EqualsOrtDynamicQuantizeLinearBitForBit) {
  Model m;
  m.graph = ir::Graph::parse("graph(%x: f32[1,6,40]) {\n  %y = dynamic_quant(%x) @q\n  return(%y)\n}\n");
  m.infer_shapes();
  m.verify();
  test::TempDir dir;
  const std::string onnx = dir.file("dq.onnx");
  exporter::export_onnx(m, onnx);
  auto gen = test::export_gen(3);
  std::vector<at::Tensor> inputs = {
      at::empty({2, 6, 40}).normal_(0, 1, gen),          at::empty({3, 6, 40}).normal_(0, 1, gen) * 1e-3 + 5,
      at::empty({1, 6, 40}).uniform_(-7, -1, gen),       at::zeros({1, 6, 40}),
      at::empty({2, 6, 40}).normal_(0, 1, gen) * 300.0,
  };
  // Ties: x = (k + 0.5) * scale with scale = 255 / 255 = 1 ([0, 255] range, zero point 0).
  at::Tensor ties = at::arange(240, at::kFloat).reshape({1, 6, 40}) + 0.5;
  ties.view({-1})[0] = 0;
  ties.view({-1})[1] = 255;
  inputs.push_back(ties);
  for (const at::Tensor& x : inputs) {
    const at::Tensor ours = runtime::Executor(m).run1(x);
    for (const char* level : {"disabled", "all"}) {
      const at::Tensor ort = test::run_ort(onnx, x, level);
      ASSERT_TRUE(ort.defined());
      EXPECT_TRUE(at::equal(ours, ort)) << level << ": " << ours.ne(ort).sum().item<int64_t>() << " of " << ours.numel()
                                        << " differ, max " << (ours - ort).abs().max().item<double>();
    }
  }
}

// mode: dynamic on the encoder: the export runs every linear as an integer matmul in ORT
// (MatMulInteger, fused by ORT), and ORT's output matches our executor's.
TEST(DynamicInt8, EncoderRunsMatMulIntegerInOrtAndMatchesExecutor) {
  test::EncoderShape s;
  Model fl = test::tiny_encoder(s);
  Model m = fl.clone();
  const DynamicQuantSummary d = quantize_dynamic(m, QuantConfig{});
  EXPECT_EQ(d.weights.size(), 12u);
  EXPECT_EQ(d.activation_quantizers, 8);  // per block: ln1 output (q, k, v), attention output, ln2 output, gelu output
  test::TempDir dir;
  const std::string onnx = dir.file("enc_dyn.onnx");
  exporter::export_onnx(m, onnx);
  const onnx::ModelProto mp = test::load_onnx(onnx);
  std::map<std::string, int> file_ops;
  for (const auto& n : mp.graph().node()) file_ops[n.op_type()]++;
  std::cout << "[ dynamic ] export: " << test::hist_str(file_ops) << "\n";
  EXPECT_EQ(file_ops["MatMulInteger"], 12);
  EXPECT_EQ(file_ops["DynamicQuantizeLinear"], 8);
  EXPECT_EQ(file_ops["MatMul"], 4);  // the attention matmuls stay float
  EXPECT_EQ(file_ops["DequantizeLinear"], 0);
  const auto hist = test::ort_optimized_histogram(onnx);
  std::cout << "[ dynamic ] ORT optimised: " << test::hist_str(hist) << "\n";
  auto count = [&](const char* op) { return hist.count(op) ? hist.at(op) : 0; };
  // ORT fuses DynamicQuantizeLinear + MatMulInteger + scale into DynamicQuantizeMatMul, or into
  // MatMulIntegerToFloat where one DynamicQuantizeLinear feeds several (q, k, v).
  EXPECT_EQ(count("com.microsoft.DynamicQuantizeMatMul") + count("com.microsoft.MatMulIntegerToFloat") +
                count("MatMulInteger"),
            12)
      << test::hist_str(hist);
  for (const at::Tensor& x : {test::encoder_tokens(1, s, 51), test::encoder_tokens(8, s, 52)}) {
    const at::Tensor ours = runtime::Executor(m).run1(x), ref = runtime::Executor(fl).run1(x);
    const at::Tensor ort = test::run_ort(onnx, x, "all");
    ASSERT_TRUE(ort.defined());
    std::cout << "[ dynamic ] batch " << x.size(0) << ": |ORT - ours| / |ours| = " << rel_error(ours, ort)
              << ", max " << (ours - ort).abs().max().item<double>() << "; INT8 error |ours - float| / |float| = "
              << rel_error(ref, ours) << "\n";
    // ORT accumulates the integers exactly, we sum the dequantized products in float: rounding
    // only (measured 1.3e-7); a one-step flip of a dynamic quantization would be ~1e-3 or more.
    EXPECT_LT(rel_error(ours, ort), 1e-5);
    // The quantization itself is far coarser (measured ~1 %): the comparison above is not vacuous.
    EXPECT_GT(rel_error(ref, ours), 1e-3);
  }
}

}  // namespace
}  // namespace mc::quant

namespace mc::quant {
namespace {

// The fold is exact through a transpose that keeps the channels last (TorchScript's attention reads
// LN(x) as [T, B, C]); a LayerNorm also read by an add is skipped, with the reason.
TEST(SmoothQuant, FoldsThroughChannelKeepingTransposesAndSkipsSharedNorms) {
  at::manual_seed(0);  // the weights below are random: the same ones whichever test ran before in the process
  Model m = ir::pass_test::make(R"IR(graph(%x: f32[2,5,8]) {
  %g1 = param[name="ln1.weight"]() @ln1
  %b1 = param[name="ln1.bias"]() @ln1
  %h1 = layer_norm[normalized_shape=[8], eps=1e-05](%x, %g1, %b1) @ln1
  %t = transpose[dim0=0, dim1=1](%h1) @attn
  %w1 = param[name="fc1.weight"]() @fc1
  %y1 = linear(%t, %w1) @fc1
  %g2 = param[name="ln2.weight"]() @ln2
  %h2 = layer_norm[normalized_shape=[8], eps=1e-05](%x, %g2) @ln2
  %w2 = param[name="fc2.weight"]() @fc2
  %y2 = linear(%h2, %w2) @fc2
  %r = add(%h2, %x) @res
  %yt = transpose[dim0=0, dim1=1](%y1) @out
  %s = add(%yt, %y2) @sum
  %o = add(%s, %r) @out2
  return(%o)
}
)IR", {{"ln1.weight", 1.0 + at::rand({8}) * 10}, {"ln1.bias", at::randn({8})}, {"ln2.weight", 1.0 + at::rand({8})},
       {"fc1.weight", at::randn({8, 8}) * 0.3}, {"fc2.weight", at::randn({8, 8}) * 0.3}});
  Model before = m.clone();
  auto loader = token_loader(at::randn({32, 5, 8}));
  const SmoothQuantSummary s = smooth_quant(m, *loader, SmoothQuantOptions{});
  ASSERT_EQ(s.smoothed.size(), 1u);
  EXPECT_EQ(s.smoothed[0].norm, "ln1");
  EXPECT_EQ(s.smoothed[0].layers, std::vector<std::string>{"fc1"});
  EXPECT_GT(s.smoothed[0].max_scale / s.smoothed[0].min_scale, 1.5);  // the channels were rescaled unevenly
  ASSERT_EQ(s.skipped.count("fc2"), 1u);
  EXPECT_NE(s.skipped.at("fc2").find("also read by add (res)"), std::string::npos) << s.skipped.at("fc2");
  EXPECT_TRUE(at::equal(m.tensor("fc2.weight"), before.tensor("fc2.weight")));
  const at::Tensor x = at::randn({4, 5, 8});
  const at::Tensor y0 = runtime::Executor(before).run1(x), y1 = runtime::Executor(m).run1(x);
  EXPECT_TRUE(at::allclose(y1, y0, 1e-5, 1e-5)) << (y1 - y0).abs().max();
}

}  // namespace
}  // namespace mc::quant
