// TorchScript importer on the fixture files (tests/fixtures/make_torchvision.py): small models
// traced and scripted, parameter names and counts, outputs against TorchScript's own forward,
// a dynamic batch, and the error cases (missing, truncated, not TorchScript, unsupported op).
#include <gtest/gtest.h>

#include <set>

#include "common/error.h"
#include "data/npy.h"
#include "frontend/frontend.h"
#include "frontend/torchscript_test_util.h"
#include "runtime/executor.h"

namespace mc {
namespace {

using test::fixture;
using test::manifest;

struct Imported {
  ir::Model model;
  at::Tensor input;
  std::string path;
};

Imported import_fixture(const std::string& name, const std::string& kind) {
  const auto& m = manifest().at("models").at(name);
  Imported r;
  r.path = fixture(m.at("files").at(kind).get<std::string>());
  r.input = data::read_npy(fixture(m.at("files").at("input").get<std::string>()));
  frontend::ImportOptions o;
  o.input_shape = test::json_shape(m.at("input_shape"));
  r.model = frontend::import_torchscript(r.path, o);
  return r;
}

void expect_matches_torchscript(Imported& im, const at::Tensor& x) {
  runtime::Executor ex(im.model);
  auto ours = ex.run({x});
  auto ref = test::torchscript_forward(im.path, x);
  ASSERT_EQ(ours.size(), ref.size());
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(test::all_close(ours[i], ref[i])) << im.path << " output " << i;
}

std::set<std::string> param_set(const ir::Model& m) {
  auto names = m.param_names();
  return {names.begin(), names.end()};
}

std::set<std::string> scopes_of(const ir::Model& m, const std::string& op) {
  std::set<std::string> out;
  for (ir::Node* n : m.graph.nodes())
    if (n->op() == op) out.insert(n->scope());
  return out;
}

class SmallModels : public ::testing::TestWithParam<std::string> {};

TEST_P(SmallModels, SmallCnnImportsWithNamesScopesAndOutputs) {
  Imported im = import_fixture("small_cnn", GetParam());
  EXPECT_EQ(param_set(im.model), (std::set<std::string>{"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                                                        "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias",
                                                        "fc.weight", "fc.bias"}));
  EXPECT_EQ(im.model.num_params(), manifest().at("models").at("small_cnn").at("param_count").get<int64_t>());
  // Running statistics are non-trainable constants named by module path; num_batches_tracked is unused.
  EXPECT_TRUE(im.model.tensors.count("bn1.running_mean"));
  EXPECT_TRUE(im.model.tensors.count("bn2.running_var"));
  EXPECT_FALSE(im.model.tensors.count("bn1.num_batches_tracked"));
  EXPECT_EQ(scopes_of(im.model, "conv2d"), (std::set<std::string>{"conv1", "conv2"}));
  EXPECT_EQ(scopes_of(im.model, "batch_norm"), (std::set<std::string>{"bn1", "bn2"}));
  EXPECT_EQ(scopes_of(im.model, "linear"), (std::set<std::string>{"fc"}));
  EXPECT_EQ(im.model.graph.inputs().at(0)->name(), "input");
  ASSERT_EQ(im.model.graph.outputs().size(), 1u);
  EXPECT_EQ(im.model.graph.outputs()[0]->shape(), (ir::Shape{1, 10}));
  im.model.verify();
  expect_matches_torchscript(im, im.input);
  // The stored reference output agrees too.
  auto stored = data::read_npy(fixture("small_cnn.output.npy"));
  runtime::Executor ex(im.model);
  EXPECT_TRUE(test::all_close(ex.run1(im.input), stored));
}

TEST_P(SmallModels, MlpImports) {
  Imported im = import_fixture("mlp", GetParam());
  EXPECT_EQ(param_set(im.model), (std::set<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(im.model.num_params(), manifest().at("models").at("mlp").at("param_count").get<int64_t>());
  expect_matches_torchscript(im, im.input);
}

TEST_P(SmallModels, Resnet18TinyKeepsModulePathsAndRunsAtAnotherBatch) {
  Imported im = import_fixture("resnet18_tiny", GetParam());
  EXPECT_EQ(im.model.num_params(), manifest().at("models").at("resnet18_tiny").at("param_count").get<int64_t>());
  auto names = param_set(im.model);
  EXPECT_TRUE(names.count("layer1.0.conv1.weight"));
  EXPECT_TRUE(names.count("layer2.0.downsample.0.weight"));
  EXPECT_TRUE(names.count("layer4.1.bn2.bias"));
  auto convs = scopes_of(im.model, "conv2d");
  EXPECT_TRUE(convs.count("layer1.0.conv1"));
  EXPECT_TRUE(convs.count("layer3.0.downsample.0"));
  EXPECT_EQ(convs.size(), 20u);
  expect_matches_torchscript(im, im.input);
  at::Tensor x3 = at::randn({3, 3, 64, 64}, at::TensorOptions().dtype(at::kFloat));
  expect_matches_torchscript(im, x3);
}

INSTANTIATE_TEST_SUITE_P(Kinds, SmallModels, ::testing::Values("traced", "scripted"));

class DynamicBatch : public ::testing::TestWithParam<std::string> {};

// ShuffleNet's channel shuffle reshapes with x.size(0): imported at batch 1, it must run at batch 3.
TEST_P(DynamicBatch, ShuffleNetImportedAtBatch1RunsAtBatch3) {
  Imported im = import_fixture("shufflenet_v2_x0_5", GetParam());
  ASSERT_EQ(im.model.input_shape()[0], 1);
  bool reshape_copies_batch = false;
  for (ir::Node* n : im.model.graph.nodes())
    if (n->op() == "reshape") reshape_copies_batch = reshape_copies_batch || n->attrs().is("shape").at(0) == 0;
  EXPECT_TRUE(reshape_copies_batch) << "channel shuffle baked the batch size";
  at::Tensor x3 = at::cat({im.input, im.input * 0.5, -im.input}, 0);
  expect_matches_torchscript(im, x3);
}

INSTANTIATE_TEST_SUITE_P(Kinds, DynamicBatch, ::testing::Values("traced", "scripted"));

// ---- errors ----

std::string import_error(const std::string& path, ir::Shape shape = {1, 3, 32, 32}) {
  frontend::ImportOptions o;
  o.input_shape = std::move(shape);
  try {
    frontend::import_torchscript(path, o);
  } catch (const InputError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "importing " << path << " did not throw InputError";
  return "";
}

TEST(TorchScriptImportErrors, MissingFileNamesThePath) {
  std::string path = test::fixture_dir() + "/no_such_model.pt";
  std::string msg = import_error(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(TorchScriptImportErrors, TruncatedFile) {
  std::string path = fixture(manifest().at("negative").at("truncated").at("file").get<std::string>());
  std::string msg = import_error(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot load"), std::string::npos) << msg;
}

TEST(TorchScriptImportErrors, StateDictIsNotTorchScript) {
  std::string path = fixture(manifest().at("negative").at("not_torchscript").at("file").get<std::string>());
  std::string msg = import_error(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a TorchScript module"), std::string::npos) << msg;
}

TEST(TorchScriptImportErrors, UnsupportedOpNamesOpScopeAndSourceLine) {
  const auto& e = manifest().at("negative").at("unsupported_op");
  std::string path = fixture(e.at("file").get<std::string>());
  std::string msg = import_error(path, test::json_shape(e.at("input_shape")));
  EXPECT_NE(msg.find("unsupported op 'aten::cumsum'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("top-level module"), std::string::npos) << msg;  // cumsum is in the root forward
  EXPECT_NE(msg.find("make_torchvision.py:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("open an issue"), std::string::npos) << msg;
}

TEST(TorchScriptImportErrors, EmptyInputShape) {
  std::string msg = import_error(fixture("small_cnn.traced.pt"), {});
  EXPECT_NE(msg.find("input shape"), std::string::npos) << msg;
}

TEST(TorchScriptImportErrors, InputShapeThatDoesNotFitTheModel) {
  // small_cnn wants 3 channels: the first conv fails shape inference, naming its scope.
  std::string msg = import_error(fixture("small_cnn.traced.pt"), {1, 5, 32, 32});
  EXPECT_NE(msg.find("conv1"), std::string::npos) << msg;
}

}  // namespace
}  // namespace mc
