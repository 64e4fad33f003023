// TorchScript importer on torchvision classification models (fixtures made by
// tests/fixtures/make_torchvision.py), traced and scripted: the import succeeds, the parameter
// count equals the PyTorch model's, every conv has a module scope, and our executor's output
// matches TorchScript's own forward within 1e-4 x max |output|, at the import batch and at
// batch 2. Label "slow".
#include <gtest/gtest.h>

#include <chrono>

#include "common/error.h"
#include "data/npy.h"
#include "frontend/frontend.h"
#include "frontend/torchscript_test_util.h"
#include "runtime/executor.h"

namespace mc {
namespace {

struct Case {
  std::string model;
  std::string kind;  // traced | scripted
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " " << c.kind; }

std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.model + "_" + info.param.kind; }

class Torchvision : public ::testing::TestWithParam<Case> {};

TEST_P(Torchvision, ImportsAndMatchesTorchScript) {
  const Case& c = GetParam();
  const auto& entry = test::manifest().at("models").at(c.model);
  const std::string path = test::fixture(entry.at("files").at(c.kind).get<std::string>());
  at::Tensor x = data::read_npy(test::fixture(entry.at("files").at("input").get<std::string>()));

  frontend::ImportOptions o;
  o.input_shape = test::json_shape(entry.at("input_shape"));
  auto t0 = std::chrono::steady_clock::now();
  ir::Model model = frontend::import_torchscript(path, o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ import ] " << c.model << " " << c.kind << ": " << model.graph.num_nodes() << " nodes, "
            << model.num_params() << " params in " << secs << " s\n";

  EXPECT_EQ(model.num_params(), entry.at("param_count").get<int64_t>());
  EXPECT_EQ(model.graph.outputs().at(0)->shape(), test::json_shape(entry.at("output_shape")));
  for (ir::Node* n : model.graph.nodes())
    if (n->op() == "conv2d") EXPECT_FALSE(n->scope().empty()) << "conv without scope";

  runtime::Executor ex(model);
  auto ours = ex.run({x});
  auto ref = test::torchscript_forward(path, x);
  ASSERT_EQ(ours.size(), ref.size());
  EXPECT_TRUE(test::all_close(ours[0], ref[0]));
  at::Tensor stored = data::read_npy(test::fixture(entry.at("files").at("output").get<std::string>()));
  EXPECT_TRUE(test::all_close(ours[0], stored)) << "against the stored PyTorch output";

  // Imported at batch 1, the model keeps a dynamic batch (nothing bakes x.size(0)).
  at::Tensor x2 = at::cat({x, x.flip(-1)}, 0);
  auto ours2 = ex.run({x2});
  auto ref2 = test::torchscript_forward(path, x2);
  EXPECT_TRUE(test::all_close(ours2[0], ref2[0])) << "at batch 2";
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* m : {"resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "densenet121",
                        "shufflenet_v2_x0_5", "efficientnet_b0", "convnext_tiny"})
    for (const char* k : {"traced", "scripted"}) out.push_back({m, k});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Models, Torchvision, ::testing::ValuesIn(cases()), case_name);

// Swin Transformer (fixture swin_small): relative position bias gathered from its trained table
// with a constant index, shifted windows (roll), the attention mask built by slice assignment on
// new_zeros (folded to a constant), patch merging by strided slices. Imported at batch 1, it keeps
// a dynamic batch (the window partition folds B * num_windows into dim 0 and back).
class SwinImport : public ::testing::TestWithParam<std::string> {};

TEST_P(SwinImport, MatchesTorchScriptAndKeepsTheBiasTableTrainable) {
  const std::string kind = GetParam();
  const auto& entry = test::manifest().at("models").at("swin_small");
  const std::string path = test::fixture(entry.at("files").at(kind).get<std::string>());
  at::Tensor x = data::read_npy(test::fixture(entry.at("files").at("input").get<std::string>()));
  frontend::ImportOptions o;
  o.input_shape = test::json_shape(entry.at("input_shape"));
  ir::Model model = frontend::import_torchscript(path, o);
  EXPECT_EQ(model.num_params(), entry.at("param_count").get<int64_t>());
  EXPECT_EQ(model.graph.outputs().at(0)->shape(), test::json_shape(entry.at("output_shape")));
  // 4 blocks: each gathers its own bias table (a param) with index_select; 2 shifted blocks roll twice.
  int gathers = 0, linears = 0;
  for (ir::Node* n : model.graph.nodes()) {
    if (n->op() == "index_select" && n->input(0)->producer()->op() == "param") {
      ++gathers;
      EXPECT_NE(n->input(0)->producer()->attrs().s("name").find("relative_position_bias_table"), std::string::npos);
    }
    linears += n->op() == "linear";
  }
  EXPECT_EQ(gathers, 4);
  EXPECT_EQ(linears, 4 * 4 + 1 + 1);  // qkv, proj, mlp x2 per block; patch merging; head

  runtime::Executor ex(model);
  at::Tensor ours = ex.run1(x);
  at::Tensor ref = test::torchscript_forward(path, x).at(0);
  EXPECT_TRUE(test::all_close(ours, ref)) << "ours\n" << ours << "\nTorchScript\n" << ref;
  at::Tensor stored = data::read_npy(test::fixture(entry.at("files").at("output").get<std::string>()));
  EXPECT_TRUE(test::all_close(ours, stored)) << "against the stored PyTorch output";
  at::Tensor x3 = at::cat({x, x.flip(-1), x * 0.5});
  EXPECT_TRUE(test::all_close(ex.run1(x3), test::torchscript_forward(path, x3).at(0))) << "at batch 3";
  // The table is a parameter of the graph, read through the gather: the same new table in ours and
  // in the TorchScript module (rows reversed and doubled; a constant added to every row would cancel
  // in the softmax) gives the same new output. The last block's: it moves the output by 7.6e-3 x
  // max |y| (measured in PyTorch), the first block's by only 9.5e-4.
  const std::string table = "features.3.1.attn.relative_position_bias_table";
  at::Tensor changed = model.tensors.at(table).flip(0) * 2.0;
  model.tensors.at(table).copy_(changed);
  torch::jit::Module ts = torch::jit::load(path);
  for (const auto& p : ts.named_parameters())
    if (p.name == table) p.value.detach().copy_(changed);
  at::Tensor ref_changed = ts.forward({x}).toTensor();
  EXPECT_FALSE(test::all_close(ref_changed, ref, 1e-3)) << "the change does not show in the output";
  EXPECT_TRUE(test::all_close(runtime::Executor(model).run1(x), ref_changed));
}

INSTANTIATE_TEST_SUITE_P(Swin, SwinImport, ::testing::Values("traced", "scripted"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace mc
