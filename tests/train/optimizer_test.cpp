// Optimizers: SGD (momentum, Nesterov, weight decay) and AdamW against torch.optim, step for step
// (with a changing learning rate, a 1-d parameter without weight decay and a step without a
// gradient); gradient clipping against clip_grad_norm_; state round trip; option checks.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "torch_ref.h"
#include "train/optimizer.h"

namespace mc::train {
namespace {

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

constexpr int kSteps = 5;
const double kLrs[kSteps] = {0.1, 0.05, 0.08, 0.02, 0.01};

// Applies kSteps updates with gradients g_w[t], g_b[t] (no gradient for b at step 2) and the lrs
// above to w (4x3) and b (4), in PyTorch; writes the results.
const char* kTorchOpt = R"PY(
import sys, numpy as np, torch
d, kind, wd, no_decay_1d, momentum, nesterov, beta1, beta2, eps = sys.argv[1:10]
wd, momentum, beta1, beta2, eps = float(wd), float(momentum), float(beta1), float(beta2), float(eps)
def load(name, shape):
    return torch.from_numpy(np.fromfile(f"{d}/{name}.bin", dtype="<f4").reshape(shape).copy())
w = load("w", (4, 3)).requires_grad_()
b = load("b", (4,)).requires_grad_()
groups = [{"params": [w], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0 if no_decay_1d == "1" else wd}]
if kind == "sgd":
    opt = torch.optim.SGD(groups, lr=0.1, momentum=momentum, nesterov=nesterov == "1")
else:
    opt = torch.optim.AdamW(groups, lr=0.1, betas=(beta1, beta2), eps=eps)
lrs = [0.1, 0.05, 0.08, 0.02, 0.01]
for t in range(5):
    for g in opt.param_groups:
        g["lr"] = lrs[t]
    w.grad = load(f"gw{t}", (4, 3))
    b.grad = None if t == 2 else load(f"gb{t}", (4,))
    opt.step()
w.detach().numpy().astype("<f4").tofile(f"{d}/w_out.bin")
b.detach().numpy().astype("<f4").tofile(f"{d}/b_out.bin")
)PY";

void compare_with_torch(const OptimizerSpec& spec) {
  ASSERT_TRUE(test::python_oracle("torch, numpy"));
  test::TempDir dir;
  auto g = gen(7);
  at::Tensor w = at::empty({4, 3}).normal_(0, 1, g);
  at::Tensor b = at::empty({4}).normal_(0, 1, g);
  test::write_raw(dir.file("w.bin"), w);
  test::write_raw(dir.file("b.bin"), b);
  std::vector<at::Tensor> gw, gb;
  for (int t = 0; t < kSteps; ++t) {
    gw.push_back(at::empty({4, 3}).normal_(0, 1, g));
    gb.push_back(at::empty({4}).normal_(0, 1, g));
    test::write_raw(dir.file("gw" + std::to_string(t) + ".bin"), gw.back());
    test::write_raw(dir.file("gb" + std::to_string(t) + ".bin"), gb.back());
  }
  auto s = [](double v) { return std::to_string(v); };
  test::run_python(dir, kTorchOpt,
                   spec.type + " " + s(spec.weight_decay) + " " + (spec.no_decay_1d ? "1" : "0") + " " + s(spec.momentum) +
                       " " + (spec.nesterov ? "1" : "0") + " " + s(spec.beta1) + " " + s(spec.beta2) + " " + s(spec.eps));

  w.requires_grad_(true);
  b.requires_grad_(true);
  auto opt = make_optimizer(spec, {w, b}, {"fc.weight", "fc.bias"});
  for (int t = 0; t < kSteps; ++t) {
    opt->zero_grad();
    opt->set_lr(kLrs[t]);
    w.mutable_grad() = gw[t].clone();
    if (t != 2) b.mutable_grad() = gb[t].clone();
    opt->step();
  }
  at::Tensor w_want = test::read_raw(dir.file("w_out.bin"), {4, 3});
  at::Tensor b_want = test::read_raw(dir.file("b_out.bin"), {4});
  EXPECT_LE(test::max_abs_diff(w, w_want), 1e-6) << "w\n" << w << "\nwant\n" << w_want;
  EXPECT_LE(test::max_abs_diff(b, b_want), 1e-6) << "b\n" << b << "\nwant\n" << b_want;
}

OptimizerSpec sgd(double momentum, bool nesterov, double wd, bool no_decay_1d = true) {
  OptimizerSpec s;
  s.type = "sgd";
  s.lr = 0.1;
  s.momentum = momentum;
  s.nesterov = nesterov;
  s.weight_decay = wd;
  s.no_decay_1d = no_decay_1d;
  return s;
}

TEST(Optimizer, SgdPlainMatchesTorch) { compare_with_torch(sgd(0.0, false, 0.0)); }
TEST(Optimizer, SgdMomentumWeightDecayMatchesTorch) { compare_with_torch(sgd(0.9, false, 5e-2)); }
TEST(Optimizer, SgdNesterovMatchesTorch) { compare_with_torch(sgd(0.9, true, 1e-2)); }
TEST(Optimizer, SgdDecayOnAllTensorsMatchesTorch) { compare_with_torch(sgd(0.8, false, 1e-1, /*no_decay_1d=*/false)); }

TEST(Optimizer, AdamWMatchesTorch) {
  OptimizerSpec s;
  s.type = "adamw";
  s.lr = 0.1;
  s.weight_decay = 0.05;
  compare_with_torch(s);
}

TEST(Optimizer, AdamWCustomBetasAllDecayMatchesTorch) {
  OptimizerSpec s;
  s.type = "adamw";
  s.weight_decay = 0.1;
  s.no_decay_1d = false;
  s.beta1 = 0.8;
  s.beta2 = 0.95;
  s.eps = 1e-6;
  compare_with_torch(s);
}

TEST(Optimizer, NoDecayOn1dTensors) {
  at::Tensor w = at::ones({2, 2}), b = at::ones({2});
  auto opt = make_optimizer(sgd(0.9, false, 0.1), {w, b});
  EXPECT_DOUBLE_EQ(opt->weight_decay_of(0), 0.1);
  EXPECT_DOUBLE_EQ(opt->weight_decay_of(1), 0.0);
  auto all = make_optimizer(sgd(0.9, false, 0.1, false), {w, b});
  EXPECT_DOUBLE_EQ(all->weight_decay_of(1), 0.1);
}

TEST(Optimizer, ZeroGradLeavesGradientsUndefined) {
  at::Tensor w = at::ones({3}).requires_grad_(true);
  (w * 2).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  auto opt = make_optimizer(sgd(0, false, 0), {w});
  opt->zero_grad();
  EXPECT_FALSE(w.grad().defined());
  opt->step();  // no gradient: nothing happens
  EXPECT_TRUE(at::equal(w.detach(), at::ones({3})));
}

TEST(Optimizer, UpdatesTheModelTensorsInPlace) {
  at::Tensor w = at::ones({3}).requires_grad_(true);
  const void* data = w.data_ptr();
  auto opt = make_optimizer(sgd(0.9, true, 0), {w});
  (w * w).sum().backward();
  opt->step();
  EXPECT_EQ(w.data_ptr(), data);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(at::allclose(w.detach(), at::full({3}, 1.0 - 0.1 * (2.0 + 0.9 * 2.0))));
}

TEST(Optimizer, StateRoundTripAndSetParams) {
  at::Tensor w = at::ones({2, 2}).requires_grad_(true);
  at::Tensor b = at::ones({2}).requires_grad_(true);
  OptimizerSpec s;
  s.type = "adamw";
  auto opt = make_optimizer(s, {w, b}, {"w", "b"});
  (w.sum() + 2 * b.sum()).backward();
  opt->step();
  auto st = opt->state();
  EXPECT_TRUE(st.count("w.exp_avg") && st.count("w.exp_avg_sq") && st.count("b.exp_avg"));
  EXPECT_EQ(st.at("w.step").item<int64_t>(), 1);

  at::Tensor w2 = w.detach().clone().requires_grad_(true), b2 = b.detach().clone().requires_grad_(true);
  auto opt2 = make_optimizer(s, {w2, b2}, {"w", "b"});
  opt2->load_state(st);
  for (auto* o : {opt.get(), opt2.get()}) {
    o->zero_grad();
    for (auto& p : o->params()) (p * p).sum().backward();
    o->step();
  }
  EXPECT_TRUE(at::equal(w.detach(), w2.detach()));
  EXPECT_TRUE(at::equal(b.detach(), b2.detach()));

  // A replaced parameter with another shape loses its state; the others keep theirs.
  at::Tensor w3 = at::ones({3, 2}).requires_grad_(true);
  opt->set_params({w3, b}, {"w", "b"});
  auto st3 = opt->state();
  EXPECT_FALSE(st3.count("w.exp_avg"));
  EXPECT_TRUE(st3.count("b.exp_avg"));
  EXPECT_EQ(st3.at("b.step").item<int64_t>(), 2);

  std::map<std::string, at::Tensor> bad{{"nope.exp_avg", at::zeros({2})}};
  EXPECT_THROW(opt->load_state(bad), InputError);
}

const char* kTorchClip = R"PY(
import sys, numpy as np, torch
d, max_norm = sys.argv[1], float(sys.argv[2])
def load(name, shape):
    return torch.from_numpy(np.fromfile(f"{d}/{name}.bin", dtype="<f4").reshape(shape).copy())
a = torch.zeros(5, 4, requires_grad=True); a.grad = load("ga", (5, 4))
b = torch.zeros(3, requires_grad=True); b.grad = load("gb", (3,))
c = torch.zeros(2, requires_grad=True)
n = torch.nn.utils.clip_grad_norm_([a, b, c], max_norm)
a.grad.numpy().astype("<f4").tofile(f"{d}/ga_out.bin")
b.grad.numpy().astype("<f4").tofile(f"{d}/gb_out.bin")
print(f"{n.item():.9g}")
)PY";

TEST(Optimizer, ClipGradNormMatchesTorch) {
  ASSERT_TRUE(test::python_oracle("torch, numpy"));
  for (double max_norm : {1.0, 100.0}) {
    test::TempDir dir;
    auto g = gen(3);
    at::Tensor a = at::zeros({5, 4}).requires_grad_(true), b = at::zeros({3}).requires_grad_(true);
    at::Tensor c = at::zeros({2}).requires_grad_(true);  // no gradient
    a.mutable_grad() = at::empty({5, 4}).normal_(0, 1, g);
    b.mutable_grad() = at::empty({3}).normal_(0, 2, g);
    test::write_raw(dir.file("ga.bin"), a.grad());
    test::write_raw(dir.file("gb.bin"), b.grad());
    std::string out = test::run_python(dir, kTorchClip, std::to_string(max_norm));
    double norm = clip_grad_norm({a, b, c}, max_norm);
    EXPECT_NEAR(norm, std::stod(out), 1e-5 * norm);
    EXPECT_LE(test::max_abs_diff(a.grad(), test::read_raw(dir.file("ga_out.bin"), {5, 4})), 1e-7);
    EXPECT_LE(test::max_abs_diff(b.grad(), test::read_raw(dir.file("gb_out.bin"), {3})), 1e-7);
    double after = std::sqrt(a.grad().pow(2).sum().item<double>() + b.grad().pow(2).sum().item<double>());
    EXPECT_LE(after, std::min(norm, max_norm) * (1 + 1e-5));
  }
  EXPECT_EQ(clip_grad_norm({at::zeros({2})}, 1.0), 0.0);
}

TEST(Optimizer, InvalidSpecsAreInputErrors) {
  auto bad = [](auto edit) {
    OptimizerSpec s;
    edit(s);
    EXPECT_THROW(validate(s), InputError);
  };
  bad([](OptimizerSpec& s) { s.type = "rmsprop"; });
  bad([](OptimizerSpec& s) { s.lr = 0; });
  bad([](OptimizerSpec& s) { s.lr = -1; });
  bad([](OptimizerSpec& s) { s.weight_decay = -1e-4; });
  bad([](OptimizerSpec& s) { s.momentum = 1.0; });
  bad([](OptimizerSpec& s) { s.nesterov = true; });  // without momentum
  bad([](OptimizerSpec& s) { s.type = "adamw"; s.beta2 = 1.0; });
  bad([](OptimizerSpec& s) { s.type = "adamw"; s.eps = 0; });
  try {
    OptimizerSpec s;
    s.type = "adam_w";
    validate(s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sgd or adamw"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mc::train
