// Static and dynamic INT8 of the BERT-style classifier (bert_tiny of tests/fixtures/make_torchvision.py:
// forward(input_ids, attention_mask), vocab 1000, 16 tokens) through recipes run by `compress`:
// static PTQ calibrates on `random_tokens` (ids and a padding mask) and quantizes every linear and
// both inputs of the attention matmuls; the embeddings stay float. Oracle: PyTorch (the TorchScript
// module run by torch::jit) in fp32 on 1000 random padded sequences made here (another generator
// than the calibration set's); the INT8 ONNX files run in ONNX Runtime must give the same argmax
// on >= 99 % of them (the must-show target; the measured agreement is printed).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/script.h>

#include <iostream>

#include "export/export_test_util.h"
#include "frontend/torchscript_test_util.h"
#include "support/test_env.h"

namespace mc {
namespace {

constexpr int64_t kSequences = 1000, kTokens = 16, kVocab = 1000;

struct Tokens {
  at::Tensor ids, mask;
};

// Seeded sequences of 4..16 tokens, padded with id 0 and mask 0 after their length.
Tokens test_set() {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(20261206);
  Tokens t;
  at::Tensor len = at::randint(4, kTokens + 1, {kSequences, 1}, gen, at::kLong);
  t.mask = at::arange(kTokens, at::kLong).unsqueeze(0).lt(len).to(at::kLong);
  t.ids = at::randint(0, kVocab, {kSequences, kTokens}, gen, at::kLong) * t.mask;
  return t;
}

std::string fixture_path() {
  return test::fixture(test::manifest().at("models").at("bert_tiny").at("files").at("traced").get<std::string>());
}

at::Tensor torch_fp32(const Tokens& t) {
  at::NoGradGuard no_grad;
  auto m = torch::jit::load(fixture_path());
  m.eval();
  return m.forward({t.ids, t.mask}).toTensor();
}

std::string recipe(const std::string& quantize, const std::string& data) {
  return "name: bert_int8\nseed: 0\nthreads: 2\n"
         "model:\n  torchscript: " + fixture_path() + "\n"
         "  inputs: [{shape: [1, 16], dtype: int64}, {shape: [1, 16], dtype: int64}]\n" + data +
         "stages:\n  - quantize: " + quantize + "\n  - export: {onnx: bert.onnx}\n"
         "report: {formats: [json], latency: false}\n";
}

double agreement(const at::Tensor& ref, const at::Tensor& got) {
  return got.defined() ? ref.argmax(1).eq(got.argmax(1)).to(at::kDouble).mean().item<double>() : 0.0;
}

// Counts MatMul nodes both of whose inputs are DequantizeLinear outputs (the attention matmuls
// q k^T and probs v, run in INT8), and Gathers whose table is a DequantizeLinear output.
std::pair<int, int> quantized_matmuls_and_gathers(const onnx::ModelProto& mp) {
  std::set<std::string> dq;
  for (const auto& n : mp.graph().node())
    if (n.op_type() == "DequantizeLinear") dq.insert(n.output(0));
  int mm = 0, gather = 0;
  for (const auto& n : mp.graph().node()) {
    if (n.op_type() == "MatMul" && dq.count(n.input(0)) && dq.count(n.input(1))) ++mm;
    if (n.op_type() == "Gather" && dq.count(n.input(0))) ++gather;
  }
  return {mm, gather};
}

// The shipped recipe (recipes/bert_tiny_int8.yaml: random_tokens calibration, 512 sequences).
TEST(BertInt8, StaticPtqOnRandomTokensMatchesPyTorchArgmaxInOrt) {
  test::TempDir dir;
  auto run = test::run_compress("--recipe " + test::source_dir() + "/recipes/bert_tiny_int8.yaml --set model.torchscript=" +
                                fixture_path() + " --out " + dir.file("run") + " -q");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_EQ(test::read_json(dir.file("run/calib.json")).at("samples").get<int64_t>(), 512);
  const std::string onnx = dir.file("run/bert_tiny_int8.onnx");
  onnx::ModelProto mp = test::load_onnx(onnx);
  ASSERT_EQ(mp.graph().input_size(), 2);
  EXPECT_EQ(mp.graph().input(0).name(), "input_ids");
  EXPECT_EQ(mp.graph().input(1).name(), "attention_mask");
  auto [matmuls, gathers] = quantized_matmuls_and_gathers(mp);
  EXPECT_EQ(matmuls, 4) << "2 layers x (q k^T, probs v) with both inputs quantized";
  EXPECT_EQ(gathers, 0) << "the embedding tables stay float";

  Tokens t = test_set();
  at::Tensor ref = torch_fp32(t);
  at::Tensor exact = test::run_ort(onnx, {t.ids, t.mask}, "all", "exact");
  at::Tensor deployed = test::run_ort(onnx, {t.ids, t.mask}, "all", "default");
  const double a_exact = agreement(ref, exact), a_default = agreement(ref, deployed);
  std::cout << "static INT8 vs fp32 PyTorch argmax agreement on " << kSequences << " sequences: " << 100 * a_exact
            << " % (ORT exact int8 kernels), " << 100 * a_default << " % (ORT default kernels); max |logit diff| "
            << (exact.defined() ? (exact - ref).abs().max().item<double>() : -1.0) << "\n";
  EXPECT_GE(a_exact, 0.99);
  EXPECT_GE(a_default, 0.99);
}

// 7-bit weights as in the static recipe: with 8-bit ones ORT's default u8 x s8 kernels saturate on
// this VNNI-less CPU (measured on these sequences: 8-bit weights 98.2 % with the default kernels;
// 7-bit 99.9 % with both).
TEST(BertInt8, DynamicInt8MatchesPyTorchArgmaxInOrt) {
  test::TempDir dir;
  const std::string r = dir.write("r.yaml", recipe("{mode: dynamic, weights: {reduce_range: true}}", ""));
  auto run = test::run_compress("--recipe " + r + " --out " + dir.file("run") + " -q");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  const std::string onnx = dir.file("run/bert.onnx");
  std::map<std::string, int> hist;
  const onnx::ModelProto mp = test::load_onnx(onnx);
  for (const auto& n : mp.graph().node()) hist[n.op_type()]++;
  EXPECT_GE(hist["DynamicQuantizeLinear"], 1) << test::hist_str(hist);
  Tokens t = test_set();
  at::Tensor ref = torch_fp32(t);
  const double a_exact = agreement(ref, test::run_ort(onnx, {t.ids, t.mask}, "all", "exact"));
  const double a_default = agreement(ref, test::run_ort(onnx, {t.ids, t.mask}, "all", "default"));
  std::cout << "dynamic INT8 vs fp32 PyTorch argmax agreement on " << kSequences << " sequences: " << 100 * a_exact
            << " % (ORT exact int8 kernels), " << 100 * a_default << " % (ORT default kernels)\n";
  EXPECT_GE(a_exact, 0.99);
  EXPECT_GE(a_default, 0.99);
}

// Token data that does not fit the model's inputs is one recipe error at data.calib's `dataset:`
// value (line 8 of the recipe above; a transform at its value; the columns as the parser reports
// them, checked by hand), exit code 2, before anything runs or is written.
TEST(BertInt8, CalibTokensThatDoNotFitTheModelAreLocatedRecipeErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"seq_len: 16, vocab: 2000, mask: true",
       "data.calib (random_tokens(64 x 16)) does not fit the model: input 0 ('input_ids') takes values in [0, 1000) (the "
       "rows of the embedding table it indexes), the dataset holds values in ["},
      {"seq_len: 16, vocab: 1000, mask: false",
       "data.calib (random_tokens(64 x 16)) does not fit the model: gives 1 input(s) per sample but the model takes 2 "
       "(input_ids, attention_mask)"},
      {"seq_len: 20, vocab: 1000, mask: true",
       "data.calib (random_tokens(64 x 20)) does not fit the model: input 0 ('input_ids') of the model is [1,16] (batch "
       "first), the dataset's samples are [N, 20]"},
      {"seq_len: 16, vocab: 1000, mask: true, transform: [{type: normalize, mean: [0], std: [1]}]",
       "data.calib.transform: dataset 'random_tokens(64 x 16)' holds token sequences; transforms apply to images only"},
  };
  for (const auto& [keys, want] : cases) {
    test::TempDir dir;
    const std::string line = std::string("  calib: {dataset: random_tokens, sequences: 64, ") + keys + "}";
    const std::string r = dir.write("r.yaml", recipe("{mode: ptq}", "data:\n" + line + "\n"));
    const size_t at = line.find("[{type") != std::string::npos ? line.find("[{type") : line.find("random_tokens");
    const std::string loc = r + ":8:" + std::to_string(at + 1) + ": ";
    auto v = test::run_compress("validate " + r);
    EXPECT_EQ(v.exit_code, 2) << keys << "\n" << v.out;
    EXPECT_NE(v.out.find(loc + want), std::string::npos) << "want: " << loc << want << "\n" << v.out;
    auto run = test::run_compress("--recipe " + r + " --out " + dir.file("run") + " -q");
    EXPECT_EQ(run.exit_code, 2) << keys << "\n" << run.out;
    EXPECT_FALSE(std::filesystem::exists(dir.file("run"))) << keys << ": a failing run writes nothing";
  }
}

}  // namespace
}  // namespace mc
