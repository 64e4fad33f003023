// TorchScript importer on small modules compiled in the test itself (torch::jit::Module::define):
// each test exercises one piece of the abstract interpreter (folding of shape arithmetic, branches
// and loops, lists, in-place ops, scalar operands, tuple outputs, error messages) and compares the
// imported model with TorchScript's own forward.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <set>

#include "common/error.h"
#include "frontend/frontend.h"
#include "frontend/torchscript_test_util.h"
#include "runtime/executor.h"

namespace mc {
namespace {

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed = 0) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

/// A module "M" with `forward` from `src`, optional parameters and submodules, saved to a file.
struct Script {
  test::TempDir dir;
  torch::jit::Module m{"M"};
  std::string path;

  Script& param(const std::string& name, at::Tensor t) {
    m.register_parameter(name, t, false);
    return *this;
  }
  Script& buffer(const std::string& name, at::Tensor t) {
    m.register_buffer(name, t);
    return *this;
  }
  Script& sub(const std::string& name, const torch::jit::Module& s) {  // before save()
    m.register_module(name, s);
    return *this;
  }
  Script() { m.register_attribute("training", c10::BoolType::get(), true); }  // saved in training mode
  std::string save(const std::string& src) {
    m.define(src);
    path = dir.file("m.pt");
    m.save(path);
    return path;
  }
};

ir::Model import(const std::string& path, ir::Shape shape) {
  frontend::ImportOptions o;
  o.input_shape = std::move(shape);
  return frontend::import_torchscript(path, o);
}

void expect_same(ir::Model& model, const std::string& path, const at::Tensor& x) {
  runtime::Executor ex(model);
  auto ours = ex.run({x});
  auto ref = test::torchscript_forward(path, x);
  ASSERT_EQ(ours.size(), ref.size());
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(test::all_close(ours[i], ref[i])) << "output " << i;
}

std::string error_of(const std::string& path, ir::Shape shape) {
  try {
    import(path, std::move(shape));
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

int count_ops(const ir::Model& m, const std::string& op) {
  int n = 0;
  for (ir::Node* node : m.graph.nodes()) n += node->op() == op;
  return n;
}

torch::jit::Module submodule(const std::string& type, const std::string& src,
                             std::vector<std::pair<std::string, at::Tensor>> params = {}) {
  torch::jit::Module s(type);
  for (auto& [name, t] : params) s.register_parameter(name, t, false);
  s.define(src);
  return s;
}

TEST(TorchScriptInterp, ShapeArithmeticBranchesAndLoopsFold) {
  Script s;
  s.param("w", randn({8, 4}));
  std::string path = s.save(R"JIT(
def forward(self, x):
    n, c, h, w = x.size()
    assert x.dim() == 4, "want 4-d"
    y = x
    for i in range(2):
        y = torch.relu(y) * 2.0 + float(i)
    y = y.view(n, c, h * w).transpose(1, 2)
    if self.training:
        y = y * 100.0
    return torch.matmul(y, self.w.t()).mean([1])
)JIT");
  ir::Model m = import(path, {2, 4, 3, 5});  // the importer puts the module in eval mode
  EXPECT_EQ(count_ops(m, "relu"), 2);
  EXPECT_EQ(count_ops(m, "mul"), 2);
  EXPECT_EQ(m.param_names(), std::vector<std::string>{"w"});
  expect_same(m, path, randn({2, 4, 3, 5}, 1));
  expect_same(m, path, randn({5, 4, 3, 5}, 2));  // the view kept the batch dynamic
}

TEST(TorchScriptInterp, ListsOfTensorsAppendChunkAndCat) {
  Script s;
  std::string path = s.save(R"JIT(
def forward(self, x):
    feats = [x]
    for i in range(3):
        feats.append(torch.sigmoid(torch.cat(feats, 1)))
    a, b = torch.chunk(feats[-1], 2, dim=1)
    parts = torch.split(x, [1, 2], dim=1)
    return torch.cat([b, a, parts[1], parts[0]], 1)
)JIT");
  ir::Model m = import(path, {1, 3, 4, 4});
  EXPECT_EQ(count_ops(m, "sigmoid"), 3);
  expect_same(m, path, randn({1, 3, 4, 4}));
}

TEST(TorchScriptInterp, InPlaceOpsRebindEveryAlias) {
  Script s;
  std::string path = s.save(R"JIT(
def forward(self, x):
    y = x * 1.0
    z = y
    y.relu_()
    z.add_(x, alpha=2)
    return z - y
)JIT");
  ir::Model m = import(path, {2, 6});
  expect_same(m, path, randn({2, 6}));
}

TEST(TorchScriptInterp, ScalarsBuffersAndTupleOutputs) {
  Script s;
  s.buffer("scale", randn({1, 3, 1, 1}));
  std::string path = s.save(R"JIT(
def forward(self, x):
    y = 1.0 - x / 3.0
    z = torch.clamp(y * self.scale, -0.5, 0.5)
    return z, (torch.flatten(z, 1), None)
)JIT");
  ir::Model m = import(path, {2, 3, 2, 2});
  EXPECT_EQ(m.graph.outputs().size(), 2u);
  EXPECT_TRUE(m.tensors.count("scale"));
  EXPECT_TRUE(m.param_names().empty());
  expect_same(m, path, randn({2, 3, 2, 2}));
}

TEST(TorchScriptInterp, SubmoduleScopesAndParamPaths) {
  auto inner = submodule("Inner", R"JIT(
def forward(self, x):
    return torch.addmm(self.bias, x, self.weight.t())
)JIT", {{"weight", randn({5, 4})}, {"bias", randn({5})}});
  torch::jit::Module block("Block");
  block.register_module("fc", inner);
  block.define(R"JIT(
def forward(self, x):
    return torch.relu(self.fc.forward(x))
)JIT");
  Script s;
  s.sub("block", block);
  std::string path = s.save(R"JIT(
def forward(self, x):
    return self.block.forward(x)
)JIT");
  ir::Model m = import(path, {3, 4});
  auto names = m.param_names();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), (std::set<std::string>{"block.fc.weight", "block.fc.bias"}));
  EXPECT_EQ(count_ops(m, "linear"), 1);  // addmm(bias, x, weight.t()) becomes linear
  for (ir::Node* n : m.graph.nodes()) {
    if (n->op() == "linear") EXPECT_EQ(n->scope(), "block.fc");
    if (n->op() == "relu") EXPECT_EQ(n->scope(), "block");
  }
  expect_same(m, path, randn({3, 4}));
}

TEST(TorchScriptInterp, DataDependentBranchNamesScope) {
  auto gate = submodule("Gate", R"JIT(
def forward(self, x):
    if bool(x.mean() > 0.0):
        return x * 2.0
    return x
)JIT");
  Script s;
  s.sub("gate", gate);
  std::string path = s.save(R"JIT(
def forward(self, x):
    return self.gate.forward(x)
)JIT");
  std::string msg = error_of(path, {1, 4});
  EXPECT_NE(msg.find("depends on tensor data"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scope 'gate'"), std::string::npos) << msg;
}

TEST(TorchScriptInterp, UnsupportedOpInSubmoduleNamesOpAndScope) {
  auto odd = submodule("Odd", R"JIT(
def forward(self, x):
    return torch.cumsum(x, 1)
)JIT");
  Script s;
  s.sub("odd", odd);
  std::string path = s.save(R"JIT(
def forward(self, x):
    return torch.relu(self.odd.forward(x))
)JIT");
  std::string msg = error_of(path, {1, 4});
  EXPECT_NE(msg.find("unsupported op 'aten::cumsum' at scope 'odd'"), std::string::npos) << msg;
}

TEST(TorchScriptInterp, UnusedUnsupportedOpIsDropped) {
  Script s;
  std::string path = s.save(R"JIT(
def forward(self, x):
    unused = torch.cumsum(x, 1)
    return torch.relu(x)
)JIT");
  ir::Model m = import(path, {1, 4});
  EXPECT_EQ(m.graph.num_nodes(), 1u);
}

TEST(TorchScriptInterp, RaiseInLiveBranchIsAnError) {
  Script s;
  std::string path = s.save(R"JIT(
def forward(self, x):
    assert x.size(1) == 3, "expected 3 channels"
    return x
)JIT");
  std::string msg = error_of(path, {1, 4});
  EXPECT_NE(msg.find("expected 3 channels"), std::string::npos) << msg;
  EXPECT_NO_THROW(import(path, {1, 3}));
}

TEST(TorchScriptInterp, ModelsWithOtherInputsAreRejected) {
  Script two;
  std::string msg = error_of(two.save(R"JIT(
def forward(self, x, y):
    return x + y
)JIT"), {1, 4});
  EXPECT_NE(msg.find("exactly one input tensor"), std::string::npos) << msg;
  Script list;
  msg = error_of(list.save(R"JIT(
def forward(self, xs: List[Tensor]):
    return xs[0]
)JIT"), {1, 4});
  EXPECT_NE(msg.find("whose input is one tensor"), std::string::npos) << msg;
  Script opt_no_default;
  msg = error_of(opt_no_default.save(R"JIT(
def forward(self, x, mask: Optional[Tensor]):
    return x
)JIT"), {1, 4});
  EXPECT_NE(msg.find("input 2 ('mask') has no default None"), std::string::npos) << msg;
}

TEST(TorchScriptInterp, OptionalInputsDefaultingToNoneImportAsNone) {
  // nn.TransformerEncoder's forward(src, mask=None, src_key_padding_mask=None): the model is
  // imported as called with the tensor alone, so the None branches are the ones taken.
  Script s;
  std::string path = s.save(R"JIT(
def forward(self, x, mask: Optional[Tensor] = None, scale: Optional[float] = None):
    if mask is not None:
        x = x * mask
    if scale is None:
        x = x + 1.0
    return x
)JIT");
  ir::Model m = import(path, {2, 3});
  EXPECT_EQ(m.graph.inputs().size(), 1u);
  EXPECT_EQ(count_ops(m, "mul"), 0) << "the mask branch is not taken";
  EXPECT_EQ(count_ops(m, "add"), 1) << "the scale branch is taken";
  expect_same(m, path, randn({2, 3}));
}

TEST(TorchScriptInterp, SliceSelectSqueezeAndPad) {
  Script s;
  std::string path = s.save(R"JIT(
def forward(self, x):
    a = x[:, 1:3]
    b = x[:, 0].unsqueeze(1)
    c = torch.constant_pad_nd(a, [1, 0, 0, 2], 0.0)
    return torch.cat([c[:, :, :4, 1:], b], 1).squeeze(3)
)JIT");
  ir::Model m = import(path, {2, 4, 4, 1});
  expect_same(m, path, randn({2, 4, 4, 1}));
}

}  // namespace
}  // namespace mc
