// TorchScript import of transformers: the `transformer` fixtures of make_torchvision.py (a small
// torchvision VisionTransformer; nn.TransformerEncoder on PyTorch's fused fast path and off it),
// traced and scripted, must match TorchScript's own forward within 1e-4 x max |output| at the
// import shape and at another batch; the fused ops become primitive IR ops with the scopes of the
// unfused path. TorchScript programs written here check expand / expand_as and the fused ops'
// arguments (need_weights, masks, cross-attention) against TorchScript itself.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <set>

#include "common/error.h"
#include "data/npy.h"
#include "frontend/frontend.h"
#include "frontend/torchscript_test_util.h"
#include "runtime/executor.h"

namespace mc {
namespace {

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

ir::Model import(const std::string& path, ir::Shape shape) {
  frontend::ImportOptions o;
  o.input_shape = std::move(shape);
  return frontend::import_torchscript(path, o);
}

int count_ops(const ir::Model& m, const std::string& op) {
  int n = 0;
  for (ir::Node* node : m.graph.nodes()) n += node->op() == op;
  return n;
}

/// (scope, op) of the nodes that carry parameters or normalise: the layers techniques see.
std::set<std::pair<std::string, std::string>> layers(const ir::Model& m) {
  std::set<std::pair<std::string, std::string>> s;
  for (ir::Node* n : m.graph.nodes())
    if (n->op() == "linear" || n->op() == "layer_norm") s.insert({n->scope(), n->op()});
  return s;
}

struct Case {
  std::string model;
  std::string kind;  // traced | scripted
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " " << c.kind; }

class TransformerImport : public ::testing::TestWithParam<Case> {};

TEST_P(TransformerImport, MatchesTorchScript) {
  const Case& c = GetParam();
  const auto& entry = test::manifest().at("models").at(c.model);
  const std::string path = test::fixture(entry.at("files").at(c.kind).get<std::string>());
  at::Tensor x = data::read_npy(test::fixture(entry.at("files").at("input").get<std::string>()));
  ir::Model model = import(path, test::json_shape(entry.at("input_shape")));

  EXPECT_EQ(model.num_params(), entry.at("param_count").get<int64_t>());
  // Every linear layer of PyTorch's model is a linear node (in_proj, out_proj, linear1/2 or mlp.0/3
  // per layer; ViT's head): the fused ops were lowered, not kept whole.
  EXPECT_EQ(count_ops(model, "linear"), c.model == "vit_small" ? 9 : 8);
  EXPECT_EQ(count_ops(model, "softmax"), 2);
  runtime::Executor ex(model);
  at::Tensor ours = ex.run1(x);
  EXPECT_TRUE(test::all_close(ours, test::torchscript_forward(path, x).at(0)));
  at::Tensor stored = data::read_npy(test::fixture(entry.at("files").at("output").get<std::string>()));
  EXPECT_TRUE(test::all_close(ours, stored)) << "against the stored PyTorch output";

  // Imported at batch 1, the batch-first models keep a dynamic batch. (The batch_first=False
  // encoder has its batch at dim 1: the importer tracks batch sizes at dim 0 only, so its views
  // keep the import shape.)
  if (c.model == "transformer_encoder_slow") return;
  at::Tensor x3 = at::cat({x, x.flip(-1), x * 0.5}, 0);
  EXPECT_TRUE(test::all_close(ex.run1(x3), test::torchscript_forward(path, x3).at(0))) << "at dim 0 x 3";
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* m : {"vit_small", "transformer_encoder", "transformer_encoder_slow"})
    for (const char* k : {"traced", "scripted"}) out.push_back({m, k});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TransformerImport, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.model + "_" + i.param.kind; });

// The lowered fused layer has the layers (scopes and parameter names) of the unfused path.
TEST(TransformerImport, FusedLayerHasTheScopesOfTheUnfusedPath) {
  const auto& fused_entry = test::manifest().at("models").at("transformer_encoder");
  const auto& slow_entry = test::manifest().at("models").at("transformer_encoder_slow");
  ir::Model fused = import(test::fixture(fused_entry.at("files").at("traced").get<std::string>()),
                           test::json_shape(fused_entry.at("input_shape")));
  ir::Model slow = import(test::fixture(slow_entry.at("files").at("traced").get<std::string>()),
                          test::json_shape(slow_entry.at("input_shape")));
  auto names = fused.param_names();
  std::sort(names.begin(), names.end());
  auto slow_names = slow.param_names();
  std::sort(slow_names.begin(), slow_names.end());
  EXPECT_EQ(names, slow_names);
  EXPECT_NE(std::find(names.begin(), names.end(), "layers.0.self_attn.in_proj_weight"), names.end());
  // The unfused path applies out_proj through F.linear inside self_attn: its scope is self_attn;
  // the lowering names the out_proj module. Everything else is the same.
  auto a = layers(fused), b = layers(slow);
  for (const char* l : {"layers.0", "layers.1"}) {
    EXPECT_EQ(a.erase({std::string(l) + ".self_attn.out_proj", "linear"}), 1u) << l;
    EXPECT_EQ(a.count({std::string(l) + ".self_attn", "linear"}), 1u) << l << ": in_proj";
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 10u);  // per layer: norm1, norm2, self_attn (in/out proj), linear1, linear2
}

/// A module "M" with `forward` from `src` and parameters, saved to a file.
struct Script {
  test::TempDir dir;
  torch::jit::Module m{"M"};
  Script& param(const std::string& name, at::Tensor t) {
    m.register_parameter(name, t, false);
    return *this;
  }
  std::string save(const std::string& src) {
    m.define(src);
    std::string path = dir.file("m.pt");
    m.save(path);
    return path;
  }
};

std::string error_of(const std::string& path, ir::Shape shape) {
  try {
    import(path, std::move(shape));
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

TEST(TransformerImport, ExpandKeepsTheBatchDynamic) {
  Script s;
  s.param("tok", randn({1, 1, 4}, 1)).param("row", randn({3, 1}, 2));
  std::string path = s.save(R"JIT(
def forward(self, x):
    n = x.shape[0]
    t = self.tok.expand(n, -1, -1)
    r = self.row.expand(3, 4)
    y = x.unsqueeze(1).expand(n, 3, 4)
    return torch.cat([t, x.unsqueeze(1) + r, y * t.expand_as(y)], 1)
)JIT");
  ir::Model m = import(path, {1, 4});
  EXPECT_EQ(count_ops(m, "expand"), 4);
  runtime::Executor ex(m);
  for (int64_t batch : {1, 5}) {
    at::Tensor x = randn({batch, 4}, 3);
    EXPECT_TRUE(test::all_close(ex.run1(x), test::torchscript_forward(path, x).at(0))) << "batch " << batch;
  }
}

// The fused op's optional outputs and arguments, called directly as the fast path does.
struct Mha : Script {
  Mha() {
    param("w", randn({24, 8}, 4)).param("b", randn({24}, 5)).param("pw", randn({8, 8}, 6)).param("pb", randn({8}, 7));
  }
};

TEST(TransformerImport, MhaAttentionWeights) {
  for (bool average : {true, false}) {
    Mha s;
    std::string avg = average ? "True" : "False";
    std::string path = s.save(R"JIT(
def forward(self, x):
    y, w = torch._native_multi_head_attention(x, x, x, 8, 2, self.w, self.b, self.pw, self.pb, None, True, )JIT" +
                              avg + R"JIT()
    return y, w
)JIT");
    ir::Model m = import(path, {2, 5, 8});
    runtime::Executor ex(m);
    at::Tensor x = randn({2, 5, 8}, 8);
    auto ours = ex.run({x});
    auto ref = test::torchscript_forward(path, x);
    ASSERT_EQ(ours.size(), 2u);
    EXPECT_EQ(ref.at(1).dim(), average ? 3 : 4);
    for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(test::all_close(ours[i], ref.at(i))) << "output " << i << " average " << average;
  }
}

TEST(TransformerImport, MasksCrossAttentionAndUncomputedWeightsAreRefused) {
  Mha masked;
  std::string msg = error_of(masked.save(R"JIT(
def forward(self, x):
    mask = torch.zeros([5, 5])
    y, w = torch._native_multi_head_attention(x, x, x, 8, 2, self.w, self.b, self.pw, self.pb, mask, False)
    return y
)JIT"), {1, 5, 8});
  EXPECT_NE(msg.find("'aten::_native_multi_head_attention'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mask is not supported"), std::string::npos) << msg;
  EXPECT_NE(msg.find("top-level module"), std::string::npos) << msg;

  Mha cross;
  msg = error_of(cross.save(R"JIT(
def forward(self, x):
    k = x * 2.0
    y, w = torch._native_multi_head_attention(x, k, k, 8, 2, self.w, self.b, self.pw, self.pb, None, False)
    return y
)JIT"), {1, 5, 8});
  EXPECT_NE(msg.find("only self-attention"), std::string::npos) << msg;

  Mha weights;
  msg = error_of(weights.save(R"JIT(
def forward(self, x):
    y, w = torch._native_multi_head_attention(x, x, x, 8, 2, self.w, self.b, self.pw, self.pb, None, False)
    return y, w
)JIT"), {1, 5, 8});
  EXPECT_NE(msg.find("need_weights=False"), std::string::npos) << msg;

  Script layer;
  layer.param("w", randn({24, 8}, 4)).param("b", randn({24}, 5)).param("v", randn({8}, 6));
  msg = error_of(layer.save(R"JIT(
def forward(self, x):
    mask = torch.zeros([5, 5])
    return torch._transformer_encoder_layer_fwd(x, 8, 2, self.w, self.b, self.w[:8], self.v, False, False, 1e-5,
        self.v, self.v, self.v, self.v, self.w[:8], self.v, self.w[:8], self.v, mask, 0)
)JIT"), {1, 5, 8});
  EXPECT_NE(msg.find("'aten::_transformer_encoder_layer_fwd'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mask is not supported"), std::string::npos) << msg;
}

}  // namespace
}  // namespace mc
