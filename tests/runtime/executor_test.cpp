// Executor: inference against direct ATen calls, early freeing of intermediate values, hooks,
// and training (autograd + batch-norm statistics) against PyTorch itself (/usr/bin/python3).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/intrusive_ptr.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include "common/error.h"
#include "ir/model.h"
#include "runtime/executor.h"
#include "support/test_env.h"

namespace mc {
namespace {

using WeakImpl = c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>;

// conv(3->4, 3x3, pad 1) -> bn -> relu -> maxpool 2 -> flatten -> fc(36 -> 5), on 6x6 inputs.
const char* kNet = R"IR(
graph(%x: f32[4,3,6,6]) {
  %cw = param[name="conv.weight"]() @conv
  %cb = param[name="conv.bias"]() @conv
  %c = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%x, %cw, %cb) @conv
  %g = param[name="bn.weight"]() @bn
  %be = param[name="bn.bias"]() @bn
  %rm = constant[name="bn.running_mean"]() @bn
  %rv = constant[name="bn.running_var"]() @bn
  %n = batch_norm[eps=1e-05, momentum=0.1](%c, %g, %be, %rm, %rv) @bn
  %r = relu(%n) @relu
  %p = max_pool2d[kernel=[2,2]](%r) @pool
  %f = flatten[start_dim=1](%p) @flatten
  %fw = param[name="fc.weight"]() @fc
  %fb = param[name="fc.bias"]() @fc
  %y = linear(%f, %fw, %fb) @fc
  return(%y)
}
)IR";

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

ir::Model make_net(uint64_t seed) {
  ir::Model m;
  m.graph = ir::Graph::parse(kNet);
  auto g = gen(seed);
  m.tensors["conv.weight"] = at::empty({4, 3, 3, 3}).normal_(0, 0.3, g);
  m.tensors["conv.bias"] = at::empty({4}).normal_(0, 0.1, g);
  m.tensors["bn.weight"] = at::empty({4}).uniform_(0.5, 1.5, g);
  m.tensors["bn.bias"] = at::empty({4}).normal_(0, 0.1, g);
  m.tensors["bn.running_mean"] = at::empty({4}).normal_(0, 0.2, g);
  m.tensors["bn.running_var"] = at::empty({4}).uniform_(0.5, 2.0, g);
  m.tensors["fc.weight"] = at::empty({5, 36}).normal_(0, 0.2, g);
  m.tensors["fc.bias"] = at::empty({5}).normal_(0, 0.1, g);
  m.infer_shapes();
  m.verify();
  return m;
}

at::Tensor input(uint64_t seed, int64_t n = 4) { return at::empty({n, 3, 6, 6}).normal_(0, 1, gen(seed)); }

// The same network, computed directly with ATen (eval mode).
at::Tensor reference_eval(const ir::Model& m, const at::Tensor& x) {
  auto t = [&](const char* k) { return m.tensors.at(k); };
  at::Tensor c = at::conv2d(x, t("conv.weight"), t("conv.bias"), {1, 1}, {1, 1});
  at::Tensor n = at::batch_norm(c, t("bn.weight"), t("bn.bias"), t("bn.running_mean"), t("bn.running_var"), false, 0.1,
                                1e-5, true);
  at::Tensor p = at::max_pool2d(at::relu(n), {2, 2});
  return at::linear(p.flatten(1), t("fc.weight"), t("fc.bias"));
}

TEST(Executor, InferenceMatchesAten) {
  ir::Model m = make_net(1);
  runtime::Executor ex(m);
  at::Tensor x = input(2);
  at::Tensor y = ex.run1(x);
  EXPECT_EQ(y.sizes(), (at::IntArrayRef{4, 5}));
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(at::allclose(y, reference_eval(m, x), 1e-5, 1e-6));
  // Any batch size.
  at::Tensor x1 = input(3, 1);
  EXPECT_TRUE(at::allclose(ex.run1(x1), reference_eval(m, x1), 1e-5, 1e-6));
  // Wrong channel count is a clear input error.
  EXPECT_THROW(ex.run1(at::zeros({1, 2, 6, 6})), InputError);
  EXPECT_THROW(ex.run({x, x}), InputError);
}

TEST(Executor, IntermediateValuesAreFreedAfterLastUse) {
  ir::Model m = make_net(1);
  runtime::Executor ex(m);
  std::map<std::string, WeakImpl> weak;
  auto keep_weak = [&](const ir::Value& v, const at::Tensor& t) { weak.emplace(v.name(), WeakImpl(t.getIntrusivePtr())); };
  for (const char* v : {"c", "n", "r", "p", "f"}) ex.add_hook(v, keep_weak);
  std::map<std::string, bool> expired_at_output;
  ex.add_hook("y", [&](const ir::Value&, const at::Tensor&) {
    for (auto& [name, w] : weak) expired_at_output[name] = w.expired();
  });
  at::Tensor x = input(2);
  at::Tensor y = ex.run1(x);
  ASSERT_EQ(weak.size(), 5u);
  // While the last node runs, the values whose last use is behind are already gone. (%p is not
  // checked: %f is a view of it, and under NoGradGuard an ATen view keeps its base alive.)
  EXPECT_TRUE(expired_at_output.at("c"));
  EXPECT_TRUE(expired_at_output.at("n"));
  EXPECT_TRUE(expired_at_output.at("r"));
  EXPECT_FALSE(expired_at_output.at("f"));
  // After the run, no intermediate survives; the output and the weights do.
  for (auto& [name, w] : weak) EXPECT_TRUE(w.expired()) << "%" << name << " still alive after run()";
  EXPECT_TRUE(y.defined());
  EXPECT_EQ(m.tensors.at("conv.weight").use_count(), 1) << "the executor must not keep extra references to weights";
}

TEST(Executor, HooksObserveTheRightValues) {
  ir::Model m = make_net(1);
  runtime::Executor ex(m);
  at::Tensor x = input(5);
  at::Tensor seen_x, seen_r;
  int calls = 0;
  ex.add_hook("x", [&](const ir::Value& v, const at::Tensor& t) {
    EXPECT_EQ(v.name(), "x");
    seen_x = t.clone();
  });
  int id = ex.add_hook("r", [&](const ir::Value& v, const at::Tensor& t) {
    EXPECT_EQ(v.name(), "r");
    EXPECT_EQ(v.producer()->op(), "relu");
    seen_r = t.clone();
    ++calls;
  });
  at::Tensor y = ex.run1(x);
  auto t = [&](const char* k) { return m.tensors.at(k); };
  at::Tensor r = at::relu(at::batch_norm(at::conv2d(x, t("conv.weight"), t("conv.bias"), {1, 1}, {1, 1}), t("bn.weight"),
                                         t("bn.bias"), t("bn.running_mean"), t("bn.running_var"), false, 0.1, 1e-5, true));
  ASSERT_TRUE(seen_x.defined());
  ASSERT_TRUE(seen_r.defined());
  EXPECT_TRUE(at::equal(seen_x, x));
  EXPECT_TRUE(at::allclose(seen_r, r, 1e-5, 1e-6));
  EXPECT_EQ(calls, 1);
  // Also during training forward; and removed hooks stay silent.
  (void)ex.forward({x}, /*training=*/false);
  EXPECT_EQ(calls, 2);
  ex.remove_hook(id);
  (void)ex.run1(x);
  EXPECT_EQ(calls, 2);
  EXPECT_THROW(ex.add_hook("no_such_value", [](const ir::Value&, const at::Tensor&) {}), Error);
}

TEST(Executor, BatchNormTrainingUpdatesRunningStats) {
  ir::Model m;
  m.graph = ir::Graph::parse(R"IR(
graph(%x: f32[8,3,4,4]) {
  %w = param[name="bn.weight"]() @bn
  %b = param[name="bn.bias"]() @bn
  %rm = constant[name="bn.running_mean"]() @bn
  %rv = constant[name="bn.running_var"]() @bn
  %y = batch_norm[eps=1e-05, momentum=0.1](%x, %w, %b, %rm, %rv) @bn
  return(%y)
}
)IR");
  auto g = gen(11);
  m.tensors["bn.weight"] = at::empty({3}).uniform_(0.5, 1.5, g);
  m.tensors["bn.bias"] = at::empty({3}).normal_(0, 0.5, g);
  m.tensors["bn.running_mean"] = at::empty({3}).normal_(0, 0.5, g);
  m.tensors["bn.running_var"] = at::empty({3}).uniform_(0.5, 2.0, g);
  m.infer_shapes();
  m.verify();
  at::Tensor rm0 = m.tensors["bn.running_mean"].clone(), rv0 = m.tensors["bn.running_var"].clone();
  at::Tensor x = at::empty({8, 3, 4, 4}).normal_(2.0, 3.0, g);
  runtime::Executor ex(m);

  // Inference leaves the statistics alone.
  (void)ex.run1(x);
  EXPECT_TRUE(at::equal(m.tensors["bn.running_mean"], rm0));
  EXPECT_TRUE(at::equal(m.tensors["bn.running_var"], rv0));

  at::Tensor y = ex.forward({x}, /*training=*/true).at(0);
  at::Tensor mean = x.mean({0, 2, 3});
  at::Tensor var_biased = x.var({0, 2, 3}, /*unbiased=*/false);
  at::Tensor var_unbiased = x.var({0, 2, 3}, /*unbiased=*/true);
  EXPECT_TRUE(at::allclose(m.tensors["bn.running_mean"], rm0 * 0.9 + mean * 0.1, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(m.tensors["bn.running_var"], rv0 * 0.9 + var_unbiased * 0.1, 1e-5, 1e-6));
  auto c = [](const at::Tensor& t) { return t.view({1, 3, 1, 1}); };
  at::Tensor expect = (x - c(mean)) / at::sqrt(c(var_biased) + 1e-5) * c(m.tensors["bn.weight"]) + c(m.tensors["bn.bias"]);
  EXPECT_TRUE(at::allclose(y.detach(), expect, 1e-4, 1e-5));
}

// ---- training against PyTorch ------------------------------------------------------------------

void write_raw(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kFloat).contiguous();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * sizeof(float)));
  ASSERT_TRUE(f.good()) << path;
}

at::Tensor read_raw(const std::string& path, at::IntArrayRef shape) {
  at::Tensor t = at::empty(shape);
  std::ifstream f(path, std::ios::binary);
  f.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * sizeof(float)));
  if (!f.good()) throw std::runtime_error("cannot read " + std::to_string(t.numel()) + " floats from " + path);
  return t;
}

// Same network in PyTorch: loss, gradients, one SGD step (lr 0.1), loss again, running stats.
const char* kTorchTrain = R"PY(
import sys, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
d = sys.argv[1]
def load(name, shape):
    return torch.from_numpy(np.fromfile(f"{d}/{name}.bin", dtype="<f4").reshape(shape).copy())
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4, eps=1e-5, momentum=0.1)
        self.fc = nn.Linear(36, 5)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))
net = Net()
sd = net.state_dict()
with torch.no_grad():
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        v.copy_(load(k, v.shape))
x = load("x", (4, 3, 6, 6))
target = load("target", (4,)).long()
net.train()
opt = torch.optim.SGD(net.parameters(), lr=0.1)
opt.zero_grad()
loss0 = F.cross_entropy(net(x), target)
loss0.backward()
for k, p in net.named_parameters():
    p.grad.numpy().astype("<f4").tofile(f"{d}/grad.{k}.bin")
opt.step()
with torch.no_grad():
    loss1 = F.cross_entropy(net(x), target)
np.array([loss0.item(), loss1.item()], dtype="<f4").tofile(f"{d}/losses.bin")
for k in ("bn.running_mean", "bn.running_var"):
    net.state_dict()[k].numpy().astype("<f4").tofile(f"{d}/out.{k}.bin")
)PY";

TEST(Executor, TrainingStepMatchesPyTorch) {
  ASSERT_TRUE(test::python_oracle("torch, numpy"));
  test::TempDir dir;
  ir::Model m = make_net(21);
  at::Tensor x = input(22);
  at::Tensor target = at::tensor({0, 3, 1, 4}, at::kLong);
  for (auto& [k, t] : m.tensors) write_raw(dir.file(k + ".bin"), t);
  write_raw(dir.file("x.bin"), x);
  write_raw(dir.file("target.bin"), target);
  {
    std::ofstream s(dir.file("train.py"));
    s << kTorchTrain;
  }
  auto r = test::run_command("/usr/bin/python3 " + dir.file("train.py") + " " + dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out;

  runtime::Executor ex(m);
  auto params = ex.parameters();
  auto names = ex.parameter_names();
  ASSERT_EQ(names, (std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc.weight", "fc.bias"}));
  for (auto& p : params) EXPECT_TRUE(p.requires_grad());
  auto loss_of = [&](bool training) {
    return at::nll_loss(at::log_softmax(ex.forward({x}, training).at(0), 1), target);
  };
  at::Tensor loss0 = loss_of(true);
  loss0.backward();
  at::Tensor losses = read_raw(dir.file("losses.bin"), {2});
  EXPECT_NEAR(loss0.item<double>(), losses[0].item<double>(), 1e-5);
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_TRUE(params[i].grad().defined()) << names[i];
    at::Tensor want = read_raw(dir.file("grad." + names[i] + ".bin"), params[i].sizes());
    EXPECT_TRUE(at::allclose(params[i].grad(), want, 1e-4, 1e-6))
        << names[i] << ": max diff " << (params[i].grad() - want).abs().max().item<double>();
  }
  {
    at::NoGradGuard ng;
    for (auto& p : params) {
      p.sub_(p.grad() * 0.1);
      p.mutable_grad().zero_();
    }
  }
  at::Tensor loss1;
  {
    at::NoGradGuard ng;
    loss1 = loss_of(true);
  }
  EXPECT_NEAR(loss1.item<double>(), losses[1].item<double>(), 1e-5);
  EXPECT_LT(loss1.item<double>(), loss0.item<double>());
  for (const char* k : {"bn.running_mean", "bn.running_var"}) {
    at::Tensor want = read_raw(dir.file(std::string("out.") + k + ".bin"), {4});
    EXPECT_TRUE(at::allclose(m.tensors.at(k), want, 1e-5, 1e-6)) << k;
  }
}

}  // namespace
}  // namespace mc
