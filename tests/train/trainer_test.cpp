// Trainer: a whole run against the same training loop in PyTorch (SGD Nesterov + weight decay,
// warm-up + cosine, label smoothing, gradient clipping, batch norm in training mode), modifier
// hook order, mask re-application, reproducibility, nan detection, early stop, rebuilds.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "data/loader.h"
#include "data/tensor_dataset.h"
#include "ir/model.h"
#include "runtime/executor.h"
#include "torch_ref.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace mc::train {
namespace {

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// conv(3->4, 3x3, pad 1) -> bn -> relu -> maxpool 2 -> flatten [-> dropout] -> fc(36 -> 5), 6x6 inputs.
std::string net_text(bool dropout) {
  std::string s = R"IR(
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
  %f0 = flatten[start_dim=1](%p) @flatten
)IR";
  s += dropout ? "  %f = dropout[p=0.5](%f0) @drop\n" : "  %f = flatten[start_dim=1](%f0) @flatten2\n";
  s += R"IR(  %fw = param[name="fc.weight"]() @fc
  %fb = param[name="fc.bias"]() @fc
  %y = linear(%f, %fw, %fb) @fc
  return(%y)
}
)IR";
  return s;
}

ir::Model make_net(uint64_t seed, bool dropout = false) {
  ir::Model m;
  m.graph = ir::Graph::parse(net_text(dropout));
  auto g = gen(seed);
  m.tensors["conv.weight"] = at::empty({4, 3, 3, 3}).normal_(0, 0.3, g);
  m.tensors["conv.bias"] = at::empty({4}).normal_(0, 0.1, g);
  m.tensors["bn.weight"] = at::empty({4}).uniform_(0.5, 1.5, g);
  m.tensors["bn.bias"] = at::empty({4}).normal_(0, 0.1, g);
  m.tensors["bn.running_mean"] = at::zeros({4});
  m.tensors["bn.running_var"] = at::ones({4});
  m.tensors["fc.weight"] = at::empty({5, 36}).normal_(0, 0.2, g);
  m.tensors["fc.bias"] = at::empty({5}).normal_(0, 0.1, g);
  m.infer_shapes();
  m.verify();
  return m;
}

// Separable data: class k has a bright blob in a class-specific place. Values in [0, 1].
std::shared_ptr<data::TensorDataset> make_data(int64_t n, uint64_t seed) {
  auto g = gen(seed);
  at::Tensor labels = at::randint(5, {n}, g, at::kLong);
  at::Tensor images = at::empty({n, 3, 6, 6}).uniform_(0, 0.3, g);
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = labels[i].item<int64_t>();
    images[i].select(0, k % 3).narrow(0, k, 2).narrow(1, (k * 2) % 5, 2).add_(0.7);
  }
  return std::make_shared<data::TensorDataset>("synthetic", images.clamp(0, 1), labels, 5);
}

std::unique_ptr<data::DataLoader> loader(std::shared_ptr<const data::Dataset> ds, int64_t batch, bool shuffle,
                                         uint64_t seed = 1) {
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.shuffle = shuffle;
  lo.seed = seed;
  lo.num_workers = 1;
  return std::make_unique<data::DataLoader>(std::move(ds), lo);
}

TrainOptions quiet_options(int64_t epochs) {
  TrainOptions o;
  o.epochs = epochs;
  o.quiet = true;
  o.optimizer.lr = 0.05;
  o.optimizer.momentum = 0.9;
  return o;
}

// ---- against PyTorch -----------------------------------------------------------------------------

const char* kTorchLoop = R"PY(
import sys, warnings, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
warnings.filterwarnings("ignore")
d = sys.argv[1]
E, B, N, lr, wd, W, f0, min_lr, ls, clip = 2, 8, 24, 0.1, 1e-3, 2, 0.1, 1e-3, 0.1, 1.0
def load(name, shape, dtype="<f4"):
    return torch.from_numpy(np.fromfile(f"{d}/{name}.bin", dtype=dtype).reshape(shape).copy())
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
with torch.no_grad():
    for k, v in net.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            v.copy_(load(k, v.shape))
x_all, y_all = load("x", (N, 3, 6, 6)), load("y", (N,), "<i8")
order = load("order", (E, N), "<i8")
decay = [p for p in net.parameters() if p.dim() > 1]
no_decay = [p for p in net.parameters() if p.dim() <= 1]
opt = torch.optim.SGD([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                      lr=lr, momentum=0.9, nesterov=True)
T = E * (N // B)
S = torch.optim.lr_scheduler
sched = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=f0, total_iters=W),
                             S.CosineAnnealingLR(opt, T_max=T - W, eta_min=min_lr)], milestones=[W])
net.train()
losses = []
for e in range(E):
    for b in range(N // B):
        idx = order[e, b * B:(b + 1) * B]
        opt.zero_grad()
        loss = F.cross_entropy(net(x_all[idx]), y_all[idx], label_smoothing=ls)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        sched.step()
        losses.append(loss.item())
for k, v in net.state_dict().items():
    if not k.endswith("num_batches_tracked"):
        v.detach().numpy().astype("<f4").tofile(f"{d}/out.{k}.bin")
print(" ".join(repr(l) for l in losses))
)PY";

TEST(Trainer, MatchesPyTorchTrainingLoop) {
  ASSERT_TRUE(test::python_oracle("torch, numpy"));
  test::TempDir dir;
  ir::Model m = make_net(21);
  auto ds = make_data(24, 22);
  auto train = loader(ds, 8, /*shuffle=*/true, /*seed=*/5);
  for (auto& [k, t] : m.tensors) test::write_raw(dir.file(k + ".bin"), t);
  test::write_raw(dir.file("x.bin"), ds->images());
  test::write_raw(dir.file("y.bin"), ds->labels());
  std::vector<int64_t> order;
  for (uint64_t e = 0; e < 2; ++e)
    for (size_t b = 0; b < train->size(); ++b)
      for (int64_t i : train->batch_indices(e, b)) order.push_back(i);
  test::write_raw(dir.file("order.bin"), at::tensor(order, at::kLong));
  std::istringstream py(test::run_python(dir, kTorchLoop));
  std::vector<double> losses;
  for (double v; py >> v;) losses.push_back(v);
  ASSERT_EQ(losses.size(), 6u);

  TrainOptions o;
  o.epochs = 2;
  o.quiet = true;
  o.optimizer.type = "sgd";
  o.optimizer.lr = 0.1;
  o.optimizer.momentum = 0.9;
  o.optimizer.nesterov = true;
  o.optimizer.weight_decay = 1e-3;
  o.schedule.type = "cosine";
  o.schedule.warmup_steps = 2;
  o.schedule.warmup_start_factor = 0.1;
  o.schedule.min_lr = 1e-3;
  o.label_smoothing = 0.1;
  o.grad_clip_norm = 1.0;
  Trainer t(m, o);
  TrainResult r = t.fit(*train);
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_EQ(r.steps, 6);
  for (auto& [k, v] : m.tensors) {
    at::Tensor want = test::read_raw(dir.file("out." + k + ".bin"), v.sizes());
    EXPECT_LE(test::max_abs_diff(v, want), 2e-5) << k;
  }
  EXPECT_NEAR(r.epochs[0].loss, (losses[0] + losses[1] + losses[2]) / 3, 1e-5);
  EXPECT_NEAR(r.epochs[1].loss, (losses[3] + losses[4] + losses[5]) / 3, 1e-5);
  EXPECT_EQ(r.epochs[1].images, 24);
}

// ---- hooks ----------------------------------------------------------------------------------------

class Recorder : public Modifier {
 public:
  std::vector<std::string> calls;
  std::vector<int64_t> steps;  // ctx.step at on_step_end
  std::vector<double> lrs;
  size_t history_at_epoch_end = 0;
  bool val_seen = false;
  std::string name() const override { return "recorder"; }
  void on_train_begin(TrainContext& ctx) override {
    calls.push_back("train_begin");
    EXPECT_NE(ctx.model, nullptr);
    EXPECT_NE(ctx.executor, nullptr);
    EXPECT_EQ(ctx.total_steps, ctx.epochs * ctx.steps_per_epoch);
  }
  void on_epoch_begin(TrainContext& ctx, int64_t e) override {
    calls.push_back("epoch_begin " + std::to_string(e));
    EXPECT_EQ(ctx.epoch, e);
  }
  at::Tensor extra_loss(TrainContext&, const at::Tensor& images, const at::Tensor& outputs,
                        const at::Tensor& labels) override {
    calls.push_back("extra_loss");
    EXPECT_EQ(images.size(0), outputs.size(0));
    EXPECT_EQ(labels.size(0), outputs.size(0));
    EXPECT_TRUE(outputs.requires_grad());
    return at::Tensor();
  }
  void on_after_backward(TrainContext& ctx) override {
    calls.push_back("after_backward");
    for (auto& p : ctx.optimizer->params()) EXPECT_TRUE(p.grad().defined());
  }
  void on_step_end(TrainContext& ctx) override {
    calls.push_back("step_end");
    steps.push_back(ctx.step);
    lrs.push_back(ctx.lr());
  }
  void on_epoch_end(TrainContext& ctx, int64_t e) override {
    calls.push_back("epoch_end " + std::to_string(e));
    history_at_epoch_end = ctx.history.size();
    val_seen = ctx.history.back().has_val;
  }
  void on_train_end(TrainContext&) override { calls.push_back("train_end"); }
};

TEST(Trainer, ModifierHooksAreCalledInOrder) {
  ir::Model m = make_net(1);
  auto ds = make_data(8, 2);
  auto train = loader(ds, 4, true);
  auto val = loader(ds, 8, false);
  TrainOptions o = quiet_options(2);
  o.schedule.type = "step";
  o.schedule.milestones = {1};
  o.schedule.gamma = 0.5;
  Trainer t(m, o);
  auto a = std::make_shared<Recorder>(), b = std::make_shared<Recorder>();
  t.add_modifier(a);
  t.add_modifier(b);
  TrainResult r = t.fit(*train, val.get());
  std::vector<std::string> step = {"extra_loss", "after_backward", "step_end"};
  std::vector<std::string> want = {"train_begin"};
  for (int e = 0; e < 2; ++e) {
    want.push_back("epoch_begin " + std::to_string(e));
    for (int s = 0; s < 2; ++s) want.insert(want.end(), step.begin(), step.end());
    want.push_back("epoch_end " + std::to_string(e));
  }
  want.push_back("train_end");
  EXPECT_EQ(a->calls, want);
  EXPECT_EQ(b->calls, want);
  EXPECT_EQ(a->steps, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(a->lrs, (std::vector<double>{0.05, 0.05, 0.025, 0.025}));
  EXPECT_EQ(a->history_at_epoch_end, 2u);
  EXPECT_TRUE(a->val_seen);
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_TRUE(r.epochs[1].has_val);
  EXPECT_EQ(r.epochs[1].val.count, 8);
  EXPECT_DOUBLE_EQ(r.epochs[1].lr, 0.025);
}

// Interleaving of two modifiers within one step: a's hook, then b's, for each hook.
TEST(Trainer, ModifiersRunInTheOrderAdded) {
  struct Tag : Modifier {
    Tag(std::string n, std::vector<std::string>* log) : n_(std::move(n)), log_(log) {}
    void on_after_backward(TrainContext&) override { log_->push_back(n_ + ".after_backward"); }
    void on_step_end(TrainContext&) override { log_->push_back(n_ + ".step_end"); }
    std::string n_;
    std::vector<std::string>* log_;
  };
  std::vector<std::string> log;
  ir::Model m = make_net(1);
  auto train = loader(make_data(4, 2), 4, false);
  Trainer t(m, quiet_options(1));
  t.add_modifier(std::make_shared<Tag>("a", &log));
  t.add_modifier(std::make_shared<Tag>("b", &log));
  t.fit(*train);
  EXPECT_EQ(log, (std::vector<std::string>{"a.after_backward", "b.after_backward", "a.step_end", "b.step_end"}));
}

TEST(Trainer, ExtraLossIsAddedToTheLoss) {
  struct Constant : Modifier {
    at::Tensor extra_loss(TrainContext&, const at::Tensor&, const at::Tensor&, const at::Tensor&) override {
      return at::scalar_tensor(1.5);
    }
  };
  auto run = [](bool extra) {
    ir::Model m = make_net(3);
    auto train = loader(make_data(16, 4), 8, true);
    Trainer t(m, quiet_options(2));
    if (extra) t.add_modifier(std::make_shared<Constant>());
    return t.fit(*train);
  };
  TrainResult plain = run(false), with = run(true);
  for (size_t e = 0; e < 2; ++e) EXPECT_NEAR(with.epochs[e].loss, plain.epochs[e].loss + 1.5, 1e-5);
}

// ---- masks ----------------------------------------------------------------------------------------

TEST(Trainer, MaskModifierKeepsZerosZero) {
  ir::Model m = make_net(5);
  at::Tensor w_mask = at::rand({5, 36}, gen(6)).gt(0.5);
  at::Tensor c_mask = at::rand({4, 3, 3, 3}, gen(7)).gt(0.3);
  m.tensors["fc.weight"].mul_(w_mask);
  m.tensors["conv.weight"].mul_(c_mask);
  at::Tensor before = m.tensors["fc.weight"].clone();
  auto mask = MaskModifier::from_zeros(m);
  EXPECT_EQ(mask->masks().size(), 2u);  // only the tensors with zeros
  auto train = loader(make_data(32, 8), 8, true);
  TrainOptions o = quiet_options(3);
  o.optimizer.weight_decay = 1e-2;
  o.optimizer.nesterov = true;
  Trainer t(m, o);
  t.add_modifier(mask);
  t.fit(*train);
  at::Tensor fw = m.tensors["fc.weight"], cw = m.tensors["conv.weight"];
  EXPECT_EQ(fw.masked_select(w_mask.logical_not()).abs().max().item<double>(), 0.0);
  EXPECT_EQ(cw.masked_select(c_mask.logical_not()).abs().max().item<double>(), 0.0);
  EXPECT_GT((fw - before).masked_select(w_mask).abs().max().item<double>(), 0.0);  // the rest trained

  // Without the modifier, the zeros do not stay zero.
  ir::Model m2 = make_net(5);
  m2.tensors["fc.weight"].mul_(w_mask);
  Trainer t2(m2, o);
  t2.fit(*train);
  EXPECT_GT(m2.tensors["fc.weight"].masked_select(w_mask.logical_not()).abs().max().item<double>(), 0.0);
}

// --trace-steps: one line per step with the loss, then " mask=<kept>/<total>:<digest>" of the
// MaskModifier; the digest changes with any mask bit and not with the mask's dtype.
TEST(Trainer, StepTraceWritesTheLossAndTheMaskDigest) {
  ir::Model m = make_net(5);
  at::Tensor w_mask = at::rand({5, 36}, gen(6)).gt(0.5);
  m.tensors["fc.weight"].mul_(w_mask);
  auto mask = MaskModifier::from_zeros(m, {"fc.weight"});
  const std::string digest = mask_digest({{"fc.weight", w_mask}});
  EXPECT_EQ(digest, mask_digest({{"fc.weight", w_mask.to(at::kFloat)}}));
  at::Tensor flipped = w_mask.clone();
  flipped.view({-1})[7] = !flipped.view({-1})[7].item<bool>();
  EXPECT_NE(mask_digest({{"fc.weight", flipped}}), digest);
  EXPECT_NE(mask_digest({{"fc.bias", w_mask}}), digest);  // the name counts too
  EXPECT_EQ(digest.substr(0, digest.find(':')), std::to_string(w_mask.sum().item<int64_t>()) + "/180");

  const std::string path = ::testing::TempDir() + "/step_trace.txt";
  std::remove(path.c_str());
  auto train = loader(make_data(32, 8), 8, true);
  TrainOptions o = quiet_options(1);
  o.step_trace = path;
  o.label = "finetune";
  Trainer t(m, o);
  t.add_modifier(mask);
  TrainResult r = t.fit(*train);
  std::ifstream in(path);
  std::string line;
  int steps = 0;
  while (std::getline(in, line)) {
    ++steps;
    std::istringstream ls(line);
    std::string label, state;
    int64_t epoch = 0, step = 0;
    double loss = -1;
    ASSERT_TRUE(static_cast<bool>(ls >> label >> epoch >> step >> loss >> state)) << line;
    EXPECT_EQ(label, "finetune");
    EXPECT_EQ(epoch, 1);
    EXPECT_EQ(step, steps);
    EXPECT_GT(loss, 0);
    EXPECT_EQ(state, "mask=" + digest) << line;
  }
  EXPECT_EQ(steps, r.steps);
  EXPECT_EQ(steps, 4);
  std::remove(path.c_str());
}

TEST(Trainer, MaskModifierRejectsUnknownParameters) {
  ir::Model m = make_net(5);
  auto train = loader(make_data(8, 8), 8, true);
  Trainer t(m, quiet_options(1));
  t.add_modifier(std::make_shared<MaskModifier>(std::map<std::string, at::Tensor>{{"nope", at::ones({2})}}));
  EXPECT_THROW(t.fit(*train), InputError);
}

// ---- reproducibility, failures, control -----------------------------------------------------------

TEST(Trainer, SameSeedGivesIdenticalWeights) {
  auto run = [](uint64_t seed) {
    ir::Model m = make_net(9, /*dropout=*/true);
    auto train = loader(make_data(32, 10), 8, /*shuffle=*/true, /*seed=*/3);
    TrainOptions o = quiet_options(2);
    o.seed = seed;
    o.optimizer.type = "adamw";
    o.optimizer.lr = 1e-2;
    o.schedule.type = "cosine";
    Trainer t(m, o);
    t.fit(*train);
    return m;
  };
  ir::Model a = run(11), b = run(11), c = run(12);
  bool differs = false;
  for (auto& [k, v] : a.tensors) {
    EXPECT_TRUE(at::equal(v, b.tensors.at(k))) << k;
    differs = differs || !at::equal(v, c.tensors.at(k));
  }
  EXPECT_TRUE(differs) << "another seed should give other dropout masks";
}

// Training draws its random numbers (dropout) from its own generator seeded by TrainOptions::seed:
// ATen's global generator is neither read nor reseeded, so the result does not depend on what
// other code drew before, and the code after fit() sees the global stream it would have seen.
TEST(Trainer, RandomnessComesFromItsOwnGeneratorNotTheGlobalOne) {
  auto run = [] {
    ir::Model m = make_net(9, /*dropout=*/true);
    auto train = loader(make_data(32, 10), 8, /*shuffle=*/true, /*seed=*/3);
    TrainOptions o = quiet_options(2);
    o.seed = 11;
    Trainer t(m, o);
    t.fit(*train);
    return m;
  };
  at::manual_seed(100);
  const at::Tensor expected_next = at::rand({16});
  at::manual_seed(100);
  ir::Model a = run();
  EXPECT_TRUE(at::equal(at::rand({16}), expected_next)) << "fit() moved or reseeded ATen's global generator";
  at::manual_seed(200);
  at::rand({1000});  // other code's draws before the run
  ir::Model b = run();
  for (auto& [k, v] : a.tensors) EXPECT_TRUE(at::equal(v, b.tensors.at(k))) << k;
}

// TrainContext::add_hook: the trainer re-attaches the hook to every executor a rebuild makes, so
// it sees every forward (training steps and validation batches) even when another modifier
// rebuilds after each step.
TEST(Trainer, ContextHooksSeeEveryForwardAcrossRebuilds) {
  struct Counter : Modifier {
    int calls = 0, removed_calls = 0, removed_id = -1;
    void on_train_begin(TrainContext& ctx) override {
      ctx.add_hook("r", [this](const ir::Value&, const at::Tensor&) { ++calls; });
      removed_id = ctx.add_hook("r", [this](const ir::Value&, const at::Tensor&) { ++removed_calls; });
    }
    void on_epoch_begin(TrainContext& ctx, int64_t e) override {
      if (e == 1) ctx.remove_hook(removed_id);
    }
  };
  struct Rebuilder : Modifier {
    int rebuilds = 0;
    void on_step_end(TrainContext& ctx) override {
      ctx.request_rebuild();
      ++rebuilds;
    }
  };
  ir::Model m = make_net(5);
  auto train = loader(make_data(16, 2), 8, true);  // 2 steps per epoch
  auto val = loader(make_data(8, 3), 4, false);    // 2 validation batches per epoch
  Trainer t(m, quiet_options(3));
  auto counter = std::make_shared<Counter>();
  auto rebuilder = std::make_shared<Rebuilder>();
  t.add_modifier(counter);
  t.add_modifier(rebuilder);
  t.fit(*train, val.get());
  EXPECT_EQ(rebuilder->rebuilds, 6);
  EXPECT_EQ(counter->calls, 3 * (2 + 2));       // every training and validation forward
  EXPECT_EQ(counter->removed_calls, 1 * (2 + 2));  // until it was removed
}

TEST(Trainer, NanLossStopsWithAClearError) {
  struct NanAt : Modifier {
    at::Tensor extra_loss(TrainContext& ctx, const at::Tensor&, const at::Tensor&, const at::Tensor&) override {
      return ctx.step == 3 ? at::scalar_tensor(std::nan("")) : at::Tensor();
    }
  };
  ir::Model m = make_net(1);
  auto train = loader(make_data(16, 2), 8, true);
  Trainer t(m, quiet_options(3));
  t.add_modifier(std::make_shared<NanAt>());
  try {
    t.fit(*train);
    FAIL() << "no error";
  } catch (const RuntimeFailure& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("loss became nan at epoch 2 step 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lower the learning rate"), std::string::npos) << msg;
    EXPECT_EQ(e.exit_code(), 1);
  }
  // The model's tensors are left without gradients and as they were for autograd.
  for (auto& n : m.param_names()) {
    EXPECT_FALSE(m.tensors.at(n).requires_grad()) << n;
    EXPECT_FALSE(m.tensors.at(n).grad().defined()) << n;
  }
}

TEST(Trainer, DivergingLearningRateIsCaught) {
  ir::Model m = make_net(1);
  auto train = loader(make_data(64, 2), 8, true);
  TrainOptions o = quiet_options(20);
  o.optimizer.lr = 1e30;
  o.optimizer.momentum = 0.0;
  Trainer t(m, o);
  EXPECT_THROW(t.fit(*train), RuntimeFailure);
}

TEST(Trainer, LearnsSeparableDataAndValidates) {
  ir::Model m = make_net(13);
  auto train = loader(make_data(256, 14), 32, true);
  auto val = loader(make_data(128, 15), 64, false);
  TrainOptions o = quiet_options(6);
  o.optimizer.lr = 0.05;
  o.schedule.type = "cosine";
  o.schedule.warmup_epochs = 1;
  Trainer t(m, o);
  TrainResult r = t.fit(*train, val.get());
  ASSERT_EQ(r.epochs.size(), 6u);
  EXPECT_LT(r.last().loss, r.epochs[0].loss);
  EXPECT_GT(r.last().val.top1, 0.9) << "val top1 " << r.last().val.top1;
  EXPECT_EQ(r.last().val.count, 128);
  EXPECT_GT(r.last().train_top1, 0.8);
  EXPECT_GT(r.last().img_per_s, 0.0);
  // Batch norm ran in training mode: running statistics moved away from their initial values.
  EXPECT_FALSE(at::equal(m.tensors.at("bn.running_mean"), at::zeros({4})));
}

TEST(Trainer, RequestStopEndsAfterTheEpoch) {
  struct StopAfter : Modifier {
    bool ended = false;
    void on_epoch_end(TrainContext& ctx, int64_t e) override {
      if (e == 1) ctx.request_stop();
    }
    void on_train_end(TrainContext&) override { ended = true; }
  };
  ir::Model m = make_net(1);
  auto train = loader(make_data(16, 2), 8, true);
  Trainer t(m, quiet_options(5));
  auto stop = std::make_shared<StopAfter>();
  t.add_modifier(stop);
  TrainResult r = t.fit(*train);
  EXPECT_EQ(r.epochs.size(), 2u);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.steps, 4);
  EXPECT_TRUE(stop->ended);
}

// A modifier that replaces a parameter tensor asks for a rebuild: the new tensor is trained.
TEST(Trainer, RebuildAfterReplacingAParameter) {
  struct Replace : Modifier {
    at::Tensor replaced, snapshot;
    void on_epoch_begin(TrainContext& ctx, int64_t e) override {
      if (e != 1) return;
      replaced = ctx.model->tensors.at("fc.weight").detach().clone();
      snapshot = replaced.clone();
      ctx.model->tensors["fc.weight"] = replaced;
      ctx.request_rebuild();
    }
  };
  ir::Model m = make_net(1);
  auto train = loader(make_data(16, 2), 8, true);
  Trainer t(m, quiet_options(2));
  auto rep = std::make_shared<Replace>();
  t.add_modifier(rep);
  t.fit(*train);
  ASSERT_TRUE(rep->replaced.defined());
  at::Tensor& now = m.tensors.at("fc.weight");
  EXPECT_TRUE(now.is_same(rep->replaced));
  EXPECT_FALSE(at::equal(now, rep->snapshot)) << "the replacement was not trained";
  EXPECT_FALSE(now.requires_grad());
}

TEST(Trainer, MaxStepsPerEpochAndRestoredParams) {
  ir::Model m = make_net(1);
  auto train = loader(make_data(64, 2), 8, true);
  TrainOptions o = quiet_options(2);
  o.max_steps_per_epoch = 3;
  Trainer t(m, o);
  TrainResult r = t.fit(*train);
  EXPECT_EQ(r.steps, 6);
  EXPECT_EQ(r.epochs[0].images, 24);
  for (auto& n : m.param_names()) {
    EXPECT_FALSE(m.tensors.at(n).requires_grad()) << n;
    EXPECT_FALSE(m.tensors.at(n).grad().defined()) << n;
  }
}

TEST(Trainer, InvalidOptionsAndDataAreInputErrors) {
  ir::Model m = make_net(1);
  auto bad = [&](auto edit) {
    TrainOptions o = quiet_options(1);
    edit(o);
    EXPECT_THROW(Trainer(m, o), InputError);
  };
  bad([](TrainOptions& o) { o.epochs = 0; });
  bad([](TrainOptions& o) { o.label_smoothing = 1.0; });
  bad([](TrainOptions& o) { o.grad_clip_norm = -1; });
  bad([](TrainOptions& o) { o.optimizer.type = "lbfgs"; });
  bad([](TrainOptions& o) { o.schedule.type = "cosine"; o.schedule.min_lr = 1.0; });

  data::LoaderOptions lo;
  lo.batch_size = 8;
  lo.drop_last = true;
  lo.num_workers = 0;
  data::DataLoader tiny(make_data(4, 1), lo);  // no full batch
  Trainer t(m, quiet_options(1));
  EXPECT_THROW(t.fit(tiny), InputError);

  // Images that do not fit the model.
  auto wrong = std::make_shared<data::TensorDataset>("wrong", at::zeros({8, 1, 6, 6}), at::zeros({8}, at::kLong), 5);
  auto wl = loader(wrong, 4, false);
  EXPECT_THROW(t.fit(*wl), InputError);
}

}  // namespace
}  // namespace mc::train
