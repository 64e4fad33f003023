// Integer and several inputs through `compress`: run / export / inspect / pack / bench of the
// BERT-style fixture (bert_tiny: forward(input_ids, attention_mask), int64 [3, 16]) with
// --input-shape repeated and --input-dtype, .npy int64 inputs, and the errors of a mismatch (float
// ids, int64 given to a float model, a wrong number of inputs, bad flags): exit 2 naming the input.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/npy.h"
#include "support/test_env.h"

namespace mc {
namespace {

using test::run_compress;

std::string q(const std::string& s) { return "'" + s + "'"; }

struct Bert {
  nlohmann::json entry = test::read_json(test::fixture_dir() + "/manifest.json").at("models").at("bert_tiny");
  std::string file(const std::string& key) const { return test::fixture_dir() + "/" + entry.at("files").at(key).get<std::string>(); }
  std::string traced() const { return file("traced"); }
  std::string ids() const { return file("input"); }
  std::string mask() const { return file("mask"); }
  at::Tensor output() const { return data::read_npy(file("output")); }
};

/// max |a - b| <= 1e-4 x max |ref|: the float32 kernels of TorchScript and ours in another order.
::testing::AssertionResult close(const at::Tensor& got, const at::Tensor& ref) {
  if (got.sizes() != ref.sizes()) return ::testing::AssertionFailure() << got.sizes() << " vs " << ref.sizes();
  double diff = (got - ref).abs().max().item<double>(), scale = ref.abs().max().item<double>();
  if (diff <= 1e-4 * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max|diff| " << diff << " > 1e-4 x " << scale;
}

TEST(TextInputs, RunOnInt64NpyFilesMatchesTorchScript) {
  Bert b;
  test::TempDir dir;
  // Shapes and dtypes from the .npy files (int64 -> int64 inputs).
  auto r = run_compress("-q run " + q(b.traced()) + " --input " + q(b.ids()) + " --input " + q(b.mask()) + " --output " +
                        q(dir.file("y.npy")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(close(data::read_npy(dir.file("y.npy")), b.output()));
  // Declared: one shape per input, one dtype for both; imported at batch 1, run at batch 3.
  auto r2 = run_compress("-q run " + q(b.file("scripted")) + " --input " + q(b.ids()) + " --input " + q(b.mask()) +
                         " --output " + q(dir.file("y2.npy")) + " --input-shape 1,16 --input-shape 1,16 --input-dtype int64");
  ASSERT_EQ(r2.exit_code, 0) << r2.out;
  EXPECT_TRUE(close(data::read_npy(dir.file("y2.npy")), b.output()));
}

TEST(TextInputs, ExportInspectPackAndBenchTakeSeveralInt64Inputs) {
  Bert b;
  test::TempDir dir;
  const std::string shapes = " --input-shape 1,16 --input-shape 1,16 --input-dtype int64,int64";
  // --input-dtype as a comma list is not the syntax: one value per flag.
  auto bad = run_compress("inspect " + q(b.traced()) + shapes);
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--input-dtype 'int64,int64'"), std::string::npos) << bad.out;
  const std::string flags = " --input-shape 1,16 --input-shape 1,16 --input-dtype int64 --input-dtype int64";

  auto i = run_compress("inspect " + q(b.traced()) + flags + " --json");
  ASSERT_EQ(i.exit_code, 0) << i.out;
  auto j = nlohmann::json::parse(i.out.substr(i.out.find('{')));
  ASSERT_EQ(j["inputs"].size(), 2u);
  EXPECT_EQ(j["inputs"][0]["name"], "input_ids");
  EXPECT_EQ(j["inputs"][0]["dtype"], "int64");
  EXPECT_EQ(j["inputs"][1]["name"], "attention_mask");
  EXPECT_EQ(j["inputs"][1]["shape"], nlohmann::json::array({1, 16}));
  auto t = run_compress("inspect " + q(b.traced()) + flags);
  ASSERT_EQ(t.exit_code, 0) << t.out;
  EXPECT_NE(t.out.find("input input_ids: i64[1,16] attention_mask: i64[1,16] -> output [1,3]"), std::string::npos) << t.out;

  // ONNX: int64 inputs with a symbolic batch, run by ONNX Runtime at batch 3.
  const std::string onnx = dir.file("bert.onnx");
  auto e = run_compress("-q export " + q(b.traced()) + flags + " --onnx " + q(onnx));
  ASSERT_EQ(e.exit_code, 0) << e.out;
  auto ort = test::run_command("node " + test::source_dir() + "/tests/ort/run_onnx.js " + q(onnx) + " --input " +
                               q(b.ids()) + " --input2 " + q(b.mask()) + " --output " + q(dir.file("ort.npy")));
  ASSERT_EQ(ort.exit_code, 0) << ort.out;
  EXPECT_TRUE(close(data::read_npy(dir.file("ort.npy")), b.output()));

  // A .mcz keeps the inputs' dtypes; bench draws ids within the embedding's 1000 rows (an id out
  // of range would make the embedding fail, exit 1) and feeds both inputs to ONNX Runtime.
  const std::string mcz = dir.file("bert.mcz");
  auto p = run_compress("-q pack " + q(b.traced()) + flags + " -o " + q(mcz));
  ASSERT_EQ(p.exit_code, 0) << p.out;
  auto r = run_compress("-q run " + q(mcz) + " --input " + q(b.ids()) + " --input " + q(b.mask()) + " --output " +
                        q(dir.file("y.npy")));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(close(data::read_npy(dir.file("y.npy")), b.output()));
  auto bench = run_compress("bench " + q(mcz) + " --batch 2 --repeats 2 --ort");
  ASSERT_EQ(bench.exit_code, 0) << bench.out;
  EXPECT_NE(bench.out.find("ratio"), std::string::npos) << bench.out;
}

TEST(TextInputs, MismatchedInputsAreExit2NamingTheInput) {
  Bert b;
  test::TempDir dir;
  const std::string y = dir.file("y.npy");
  const std::string fids = dir.file("float_ids.npy");
  data::write_npy(fids, data::read_npy(b.ids()).to(at::kFloat));
  auto expect_error = [&](const std::string& args, const std::vector<std::string>& parts) {
    SCOPED_TRACE(args);
    auto r = run_compress(args);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    for (const auto& p : parts) EXPECT_NE(r.out.find(p), std::string::npos) << "no '" << p << "' in: " << r.out;
    EXPECT_FALSE(std::filesystem::exists(y));
  };
  // Float values where int64 ids are expected: TorchScript (the importer) and a .mcz (the run).
  expect_error("run " + q(b.traced()) + " --input " + q(fids) + " --input " + q(b.mask()) + " --output " + q(y),
               {"graph input 'input_ids'", "token ids must be integers", "int64"});
  const std::string mcz = dir.file("bert.mcz");
  ASSERT_EQ(run_compress("-q pack " + q(b.traced()) + " --input-shape 1,16 --input-shape 1,16 --input-dtype int64 -o " + q(mcz)).exit_code, 0);
  expect_error("run " + q(mcz) + " --input " + q(fids) + " --input " + q(b.mask()) + " --output " + q(y),
               {"input 'input_ids'", "is int64", "float_ids.npy", "astype(numpy.int64)"});
  // --input-dtype that contradicts the .npy.
  expect_error("run " + q(b.traced()) + " --input " + q(b.ids()) + " --input " + q(b.mask()) + " --output " + q(y) +
                   " --input-shape 3,16 --input-shape 3,16 --input-dtype float32",
               {b.ids(), "--input-dtype says float32"});
  // int64 ids given to float models: a zoo model, and a TorchScript MLP (the importer).
  const std::string iids = dir.file("ints.npy");
  data::write_npy(iids, at::randint(10, {1, 1, 28, 28}, at::kLong));
  expect_error("run zoo:lenet5 --input " + q(iids) + " --output " + q(y), {"input 'input'", "is float32", "astype(numpy.float32)"});
  data::write_npy(iids, at::randint(10, {1, 16}, at::kLong));
  expect_error("run " + q(test::fixture_dir() + "/mlp.traced.pt") + " --input " + q(iids) + " --output " + q(y),
               {"graph input 'input' is i64[1,16]", "--input-dtype"});
  // The wrong number of inputs.
  expect_error("run " + q(b.traced()) + " --input " + q(b.ids()) + " --output " + q(y),
               {"forward takes 2 inputs (input_ids, attention_mask) but 1 was declared"});
  expect_error("run " + q(mcz) + " --input " + q(b.ids()) + " --output " + q(y),
               {"takes 2 input(s) (input_ids, attention_mask), 1 --input given"});
  expect_error("inspect " + q(b.traced()) + " --input-shape 1,16", {"forward takes 2 inputs"});
  expect_error("inspect zoo:lenet5 --input-shape 1,1,28,28 --input-shape 1,16", {"takes one float32 input"});
  // Bad flags.
  expect_error("inspect " + q(b.traced()) + " --input-shape 1,16 --input-shape 1,16 --input-dtype int8",
               {"--input-dtype 'int8'", "int64"});
  expect_error("inspect " + q(b.traced()) + " --input-shape 1,16 --input-shape 1,16 --input-dtype int64 --input-dtype int64 --input-dtype int64",
               {"3 --input-dtype for 2 --input-shape"});
  expect_error("run " + q(b.traced()) + " --input " + q(b.ids()) + " --input " + q(b.mask()) + " --output " + q(y) +
                   " --input-shape 3,16",
               {"2 --input file(s) but 1 --input-shape"});
}

}  // namespace
}  // namespace mc
