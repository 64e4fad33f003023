// Integer inputs and several inputs: the BERT-style text classifier fixtures (bert_tiny of
// tests/fixtures/make_torchvision.py, forward(input_ids, attention_mask), both int64 [3, 16], rows
// 1 and 2 padded at the end) imported traced and scripted, run by our executor, exported to ONNX
// (int64 graph inputs, dynamic batch) and run in ONNX Runtime. Oracle: TorchScript's output
// (<name>.output.npy, and torch::jit forwards at another batch). Tolerance 1e-4 x max |output|:
// the same float32 kernels in a different order (measured max |diff| in the messages).
#include <gtest/gtest.h>

#include "common/error.h"
#include "data/npy.h"
#include "export/onnx_export.h"
#include "export_test_util.h"
#include "frontend/frontend.h"
#include "frontend/torchscript_test_util.h"
#include "ir/passes/optimize.h"
#include "runtime/executor.h"

namespace mc {
namespace {

struct TextFixture {
  std::string path;                   // TorchScript file
  std::vector<ir::TensorType> types;  // declared inputs (manifest "inputs")
  std::vector<at::Tensor> inputs;     // the recorded int64 inputs
  at::Tensor output;                  // TorchScript's output on them
};

TextFixture text_fixture(const std::string& name, const std::string& kind) {
  const auto& e = test::manifest().at("models").at(name);
  TextFixture f;
  f.path = test::fixture(e.at("files").at(kind).get<std::string>());
  for (const auto& in : e.at("inputs")) {
    ir::DType d = frontend::parse_input_dtype(in.at("dtype").get<std::string>());
    f.types.emplace_back(d, test::json_shape(in.at("shape")));
    f.inputs.push_back(data::read_npy(test::fixture(in.at("file").get<std::string>())));
  }
  f.output = data::read_npy(test::fixture(e.at("files").at("output").get<std::string>()));
  return f;
}

ir::Model import(const TextFixture& f) {
  frontend::ImportOptions o;
  o.inputs = f.types;
  return frontend::import_torchscript(f.path, o);
}

at::Tensor torch_forward(const std::string& path, const std::vector<at::Tensor>& xs) {
  at::NoGradGuard no_grad;
  auto m = torch::jit::load(path);
  m.eval();
  std::vector<c10::IValue> args(xs.begin(), xs.end());
  return m.forward(args).toTensor();
}

std::vector<at::Tensor> rows(const std::vector<at::Tensor>& xs, int64_t n) {
  std::vector<at::Tensor> out;
  for (const auto& x : xs) out.push_back(x.slice(0, 0, n).contiguous());
  return out;
}

int count_ops(const ir::Model& m, const std::string& op) {
  int n = 0;
  for (const ir::Node* node : m.graph.nodes()) n += node->op() == op;
  return n;
}

class BertTiny : public ::testing::TestWithParam<std::string> {};

TEST_P(BertTiny, ImportsWithTwoInt64InputsAndMatchesTorchScript) {
  TextFixture f = text_fixture("bert_tiny", GetParam());
  ASSERT_EQ(f.inputs.size(), 2u);
  ASSERT_EQ(f.inputs[0].scalar_type(), at::kLong);
  ir::Model m = import(f);
  ASSERT_EQ(m.graph.inputs().size(), 2u);
  EXPECT_EQ(m.graph.inputs()[0]->name(), "input_ids");
  EXPECT_EQ(m.graph.inputs()[1]->name(), "attention_mask");
  for (const ir::Value* v : m.graph.inputs()) EXPECT_EQ(ir::type_str(v->type()), "i64[3,16]");
  // The layers techniques see: word / position / token-type embeddings with their tables as
  // trained params, and every Linear (2 layers x (q, k, v, attention output, intermediate,
  // output) + pooler + classifier) as a linear op.
  EXPECT_EQ(count_ops(m, "embedding"), 3);
  EXPECT_EQ(count_ops(m, "linear"), 14);
  EXPECT_EQ(count_ops(m, "cast"), 1);  // the mask to float
  EXPECT_EQ(m.num_params(), test::manifest().at("models").at("bert_tiny").at("param_count").get<int64_t>());
  const auto names = m.param_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "bert.embeddings.word_embeddings.weight"), names.end());

  runtime::Executor ex(m);
  EXPECT_TRUE(test::all_close(ex.run(f.inputs).at(0), f.output, 1e-4));
  // Another batch (2 rows) than the one imported at, against TorchScript on the same rows.
  auto two = rows(f.inputs, 2);
  EXPECT_TRUE(test::all_close(ex.run(two).at(0), torch_forward(f.path, two), 1e-4));
}

// The mask is not ignored: with every position attended the output is bert_tiny_ids' (TorchScript,
// same weights, mask of ones), which differs from the padded rows' output.
TEST_P(BertTiny, AttentionMaskChangesThePaddedRows) {
  TextFixture f = text_fixture("bert_tiny", GetParam());
  TextFixture ids_only = text_fixture("bert_tiny_ids", GetParam());
  ir::Model m = import(f);
  runtime::Executor ex(m);
  at::Tensor ones = at::ones_like(f.inputs[1]);
  at::Tensor y = ex.run({f.inputs[0], ones}).at(0);
  EXPECT_TRUE(test::all_close(y, ids_only.output, 1e-4));
  const double padded = (f.output.slice(0, 1, 3) - ids_only.output.slice(0, 1, 3)).abs().max().item<double>();
  const double unpadded = (f.output.slice(0, 0, 1) - ids_only.output.slice(0, 0, 1)).abs().max().item<double>();
  EXPECT_GT(padded, 1e-2) << "padding changes rows 1 and 2";
  EXPECT_LT(unpadded, 1e-5) << "row 0 has no padding";
}

TEST_P(BertTiny, OnnxExportHasInt64InputsAndMatchesTorchScriptInOrt) {
  TextFixture f = text_fixture("bert_tiny", GetParam());
  ir::Model m = import(f);
  ir::passes::optimize(m);  // as `compress export` does
  test::TempDir dir;
  const std::string onnx = dir.file("bert_tiny.onnx");
  ASSERT_NO_THROW(exporter::export_onnx(m, onnx));
  onnx::ModelProto mp = test::load_onnx(onnx);
  ASSERT_EQ(mp.graph().input_size(), 2);
  EXPECT_EQ(mp.graph().input(0).name(), "input_ids");  // forward's argument names, as in the IR
  EXPECT_EQ(mp.graph().input(1).name(), "attention_mask");
  for (const auto& in : mp.graph().input()) {
    EXPECT_EQ(in.type().tensor_type().elem_type(), onnx::TensorProto_DataType_INT64) << in.name();
    EXPECT_EQ(in.type().tensor_type().shape().dim(0).dim_param(), "batch") << in.name();
    EXPECT_EQ(in.type().tensor_type().shape().dim(1).dim_value(), 16) << in.name();
  }
  std::map<std::string, int> hist;
  for (const auto& n : mp.graph().node()) hist[n.op_type()]++;
  EXPECT_GE(hist["Gather"], 1) << test::hist_str(hist);  // the word embedding at least (the others may fold)
  EXPECT_EQ(hist["Cast"], 1) << test::hist_str(hist);
  EXPECT_TRUE(test::close_to(f.output, test::run_ort(onnx, f.inputs)));
  auto two = rows(f.inputs, 2);
  EXPECT_TRUE(test::close_to(torch_forward(f.path, two), test::run_ort(onnx, two)));
}

INSTANTIATE_TEST_SUITE_P(Kinds, BertTiny, ::testing::Values("traced", "scripted"));

// bert_tiny_masked_fill: bert_tiny's weights with the mask applied DistilBERT's way,
// scores.masked_fill((attention_mask == 0)[:, None, None, :], float32 min): aten::eq -> eq,
// aten::masked_fill -> where(mask, fill, scores); ONNX Equal and Where. Oracle: TorchScript's
// output (the fixture's, and torch::jit forwards at another batch); the same numbers as bert_tiny.
class BertTinyMaskedFill : public ::testing::TestWithParam<std::string> {};

TEST_P(BertTinyMaskedFill, ImportsRunsAndExportsEqualToTorchScriptInOrt) {
  TextFixture f = text_fixture("bert_tiny_masked_fill", GetParam());
  ir::Model m = import(f);
  ASSERT_EQ(m.graph.inputs().size(), 2u);
  EXPECT_EQ(m.graph.inputs()[1]->name(), "attention_mask");
  EXPECT_EQ(count_ops(m, "eq"), 1);
  EXPECT_EQ(count_ops(m, "where"), 2);  // one per layer
  EXPECT_EQ(count_ops(m, "linear"), 14);
  runtime::Executor ex(m);
  EXPECT_TRUE(test::all_close(ex.run(f.inputs).at(0), f.output, 1e-4));
  EXPECT_TRUE(test::all_close(ex.run(f.inputs).at(0), text_fixture("bert_tiny", GetParam()).output, 1e-4));
  // The mask is used: all-ones changes the padded rows.
  const double moved = (ex.run({f.inputs[0], at::ones_like(f.inputs[1])}).at(0) - f.output).abs().max().item<double>();
  EXPECT_GT(moved, 1e-2);

  ir::passes::optimize(m);
  test::TempDir dir;
  const std::string onnx = dir.file("bert_tiny_masked_fill.onnx");
  ASSERT_NO_THROW(exporter::export_onnx(m, onnx));
  onnx::ModelProto mp = test::load_onnx(onnx);
  ASSERT_EQ(mp.graph().input_size(), 2);
  EXPECT_EQ(mp.graph().input(0).name(), "input_ids");
  EXPECT_EQ(mp.graph().input(1).name(), "attention_mask");
  std::map<std::string, int> hist;
  for (const auto& n : mp.graph().node()) hist[n.op_type()]++;
  EXPECT_EQ(hist["Equal"], 1) << test::hist_str(hist);
  EXPECT_EQ(hist["Where"], 2) << test::hist_str(hist);
  EXPECT_TRUE(test::close_to(f.output, test::run_ort(onnx, f.inputs)));
  auto two = rows(f.inputs, 2);
  EXPECT_TRUE(test::close_to(torch_forward(f.path, two), test::run_ort(onnx, two)));
}

INSTANTIATE_TEST_SUITE_P(Kinds, BertTinyMaskedFill, ::testing::Values("traced", "scripted"));

// One int64 input (forward(input_ids)): the single-input form of the API with a dtype.
TEST(BertTinyIds, OneInt64InputImportsAndExports) {
  TextFixture f = text_fixture("bert_tiny_ids", "traced");
  ir::Model m = import(f);
  ASSERT_EQ(m.graph.inputs().size(), 1u);
  EXPECT_EQ(ir::type_str(m.graph.inputs()[0]->type()), "i64[3,16]");
  runtime::Executor ex(m);
  EXPECT_TRUE(test::all_close(ex.run(f.inputs).at(0), f.output, 1e-4));
  test::TempDir dir;
  const std::string onnx = dir.file("bert_tiny_ids.onnx");
  ir::passes::optimize(m);
  exporter::export_onnx(m, onnx);
  EXPECT_EQ(test::load_onnx(onnx).graph().input(0).name(), "input");  // one input keeps the name "input"
  EXPECT_TRUE(test::close_to(f.output, test::run_ort(onnx, f.inputs)));
}

// Token ids declared float32 (the default): the importer names the input and the fix.
TEST(BertTinyIds, FloatIdsAreAnErrorNamingTheInput) {
  TextFixture f = text_fixture("bert_tiny", "traced");
  frontend::ImportOptions o;
  o.inputs = {ir::TensorType(ir::DType::f32, {3, 16}), ir::TensorType(ir::DType::i64, {3, 16})};
  try {
    frontend::import_torchscript(f.path, o);
    FAIL() << "float token ids were accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("input_ids"), std::string::npos) << msg;
    EXPECT_NE(msg.find("int64"), std::string::npos) << msg;
  }
  o.inputs.pop_back();  // one input declared for a forward of two
  try {
    frontend::import_torchscript(f.path, o);
    FAIL() << "one input accepted for forward(input_ids, attention_mask)";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("forward takes 2 inputs (input_ids, attention_mask) but 1 was declared"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace mc
