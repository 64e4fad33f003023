// DistillModifier inside a real Trainer run on Fashion-MNIST, with the trained resnet8 fixture as
// teacher: loss terms, a frozen teacher, learned adapters, cached == uncached teacher logits,
// and scope errors.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "data/factory.h"
#include "data/loader.h"
#include "data/transform_spec.h"
#include "distillation/distill_modifier.h"
#include "frontend/frontend.h"
#include "runtime/executor.h"
#include "support/test_env.h"
#include "train/trainer.h"

using namespace mc;

namespace {

std::shared_ptr<ir::Model> fixture_teacher() {
  return std::make_shared<ir::Model>(ir::Model::load(test::fixture_dir() + "/resnet8_fmnist/resnet8_fmnist.mcm"));
}

ir::Model zoo(const std::string& name, uint64_t seed = 0) {
  frontend::ZooOptions o;
  o.seed = seed;
  return frontend::build_zoo(name, o);
}

std::unique_ptr<data::DataLoader> fmnist_loader(int64_t limit, int64_t batch) {
  data::DatasetSpec spec;
  spec.kind = "fashion_mnist";
  spec.limit = limit;
  data::LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = true;
  o.seed = 5;
  data::TransformSpec norm;
  norm.type = "normalize";
  norm.mean = {0.2860};
  norm.std = {0.3530};
  o.transforms = data::make_transforms({norm});
  return std::make_unique<data::DataLoader>(data::make_dataset(spec), o);
}

train::TrainOptions quick(int64_t epochs, int64_t max_steps = 0) {
  train::TrainOptions o;
  o.epochs = epochs;
  o.optimizer.lr = 0.02;
  o.optimizer.momentum = 0.9;
  o.max_steps_per_epoch = max_steps;
  o.seed = 7;
  o.quiet = true;
  return o;
}

// resnet8 -> resnet8: a hint on layer2.0's output and attention transfer on layer3.0's.
distill::DistillSettings hint_and_attention() {
  distill::DistillSettings s;
  s.hints = {{"layer2.0.relu", "layer2.0.relu", "test"}};
  s.attention = {{"layer3.0.relu", "layer3.0.relu", "test"}};
  return s;
}

}  // namespace

TEST(DistillModifier, LossTermsArePresentAndTheTeacherStaysFrozen) {
  auto teacher = fixture_teacher();
  std::map<std::string, at::Tensor> before;
  for (auto& [k, t] : teacher->tensors) before[k] = t.clone();
  ir::Model student = zoo("resnet8", 1);
  const at::Tensor w_before = student.tensors.at(student.param_names().front()).clone();

  auto mod = std::make_shared<distill::DistillModifier>(teacher, student, hint_and_attention());
  train::Trainer trainer(student, quick(2, 3));
  trainer.add_modifier(mod);
  auto val = fmnist_loader(256, 128);
  auto res = trainer.fit(*fmnist_loader(512, 64), val.get());

  ASSERT_EQ(mod->epochs().size(), 2u);
  for (const auto& e : mod->epochs()) {
    for (const char* k : {"kd", "ce", "hint_layer2.0.relu", "at_layer3.0.relu"}) {
      ASSERT_TRUE(e.terms.count(k)) << k;
      EXPECT_TRUE(std::isfinite(e.terms.at(k))) << k;
      EXPECT_GT(e.terms.at(k), 0.0) << k;
    }
    EXPECT_EQ(e.teacher_samples, 3 * 64);
    EXPECT_TRUE(e.has_val);
  }
  // Trainer loss = (1 - alpha) ce + alpha kd + hint + 500 at, per epoch (means over the same samples).
  for (size_t i = 0; i < 2; ++i) {
    const auto& t = mod->epochs()[i].terms;
    const double total = 0.1 * t.at("ce") + 0.9 * t.at("kd") + t.at("hint_layer2.0.relu") + 500 * t.at("at_layer3.0.relu");
    EXPECT_NEAR(res.epochs[i].loss, total, 1e-4 * total);
  }
  // The student learned; the teacher did not change and never got a gradient.
  EXPECT_FALSE(student.tensors.at(student.param_names().front()).equal(w_before));
  for (auto& [k, t] : teacher->tensors) {
    EXPECT_TRUE(t.equal(before.at(k))) << k;
    EXPECT_FALSE(t.grad().defined()) << k;
    EXPECT_FALSE(t.requires_grad()) << k;
  }
}

TEST(DistillModifier, HintAcrossChannelCountsLearnsAOneByOneAdapter) {
  // lenet5's relu1 (6 x 28 x 28) hinted by resnet8's layer1.0.relu (16 x 28 x 28).
  auto teacher = fixture_teacher();
  ir::Model student = zoo("lenet5");
  distill::DistillSettings s;
  s.hints = {{"relu1", "layer1.0.relu", "test"}};
  auto mod = std::make_shared<distill::DistillModifier>(teacher, student, s);
  auto [w, b] = mod->adapter(0);
  ASSERT_TRUE(w.defined());
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{16, 6, 1, 1}));
  EXPECT_EQ(b.sizes(), (std::vector<int64_t>{16}));
  EXPECT_TRUE(w.requires_grad());
  ASSERT_EQ(mod->extra_parameters().size(), 2u);
  const at::Tensor w0 = w.detach().clone();
  train::Trainer trainer(student, quick(1, 4));
  trainer.add_modifier(mod);
  trainer.fit(*fmnist_loader(256, 64));
  EXPECT_FALSE(w.detach().equal(w0)) << "the optimizer must train the adapter";
  EXPECT_GT(mod->epochs().at(0).terms.at("hint_relu1"), 0.0);
  // Same channel count: no adapter.
  distill::DistillSettings same;
  same.hints = {{"layer1.0.relu", "layer1.0.relu", "test"}};
  ir::Model r8 = zoo("resnet8");
  EXPECT_FALSE(distill::DistillModifier(teacher, r8, same).adapter(0).first.defined());
}

// A token model: the 28 image rows are 28 tokens, embedded to `width` features (N x 28 x width),
// mean-pooled to N x width, classified. Hints between two widths pair token features and vectors.
ir::Model token_net(int64_t width, uint64_t seed) {
  ir::Model m;
  m.graph = ir::Graph::parse(R"IR(
graph(%x: f32[1,1,28,28]) {
  %t = reshape[shape=[0,28,28]](%x) @rows
  %w1 = param[name="embed.weight"]() @embed
  %b1 = param[name="embed.bias"]() @embed
  %e = linear(%t, %w1, %b1) @embed
  %h = gelu(%e) @act
  %p = mean[dims=[1], keepdim=0](%h) @pool
  %w2 = param[name="head.weight"]() @head
  %b2 = param[name="head.bias"]() @head
  %y = linear(%p, %w2, %b2) @head
  return(%y)
}
)IR");
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  m.tensors["embed.weight"] = at::empty({width, 28}).normal_(0, 0.2, g);
  m.tensors["embed.bias"] = at::empty({width}).normal_(0, 0.1, g);
  m.tensors["head.weight"] = at::empty({10, width}).normal_(0, 0.2, g);
  m.tensors["head.bias"] = at::zeros({10});
  m.name = "token_net" + std::to_string(width);
  m.infer_shapes();
  m.verify();
  return m;
}

TEST(DistillModifier, TokenAndVectorHintsAcrossWidthsLearnLinearAdapters) {
  auto teacher = std::make_shared<ir::Model>(token_net(16, 1));
  ir::Model student = token_net(8, 2);
  distill::DistillSettings s;
  s.alpha = 0.5;
  s.hints = {{"act", "act", "test"}, {"pool", "pool", "test"}};  // N x 28 x 8 -> 16, N x 8 -> 16
  auto mod = std::make_shared<distill::DistillModifier>(teacher, student, s);
  for (size_t i = 0; i < 2; ++i) {
    auto [w, b] = mod->adapter(i);
    ASSERT_TRUE(w.defined());
    EXPECT_EQ(w.sizes(), (std::vector<int64_t>{16, 8})) << "a Linear over the width, not a 1x1 conv";
    EXPECT_EQ(b.sizes(), (std::vector<int64_t>{16}));
  }
  // The first step's hint terms are the MSE of the adapted student features against the teacher's,
  // computed here with the same initial weights: one batch of all 64 samples (MSE is order-free).
  auto loader = fmnist_loader(64, 64);
  data::Batch batch;
  ASSERT_TRUE(loader->next(batch));
  auto features = [&](ir::Model& m, const char* value) {
    runtime::Executor ex(m);
    at::Tensor out;
    ex.add_hook(distill::resolve_value(m.graph, value)->name(), [&](const ir::Value&, const at::Tensor& t) { out = t; });
    at::NoGradGuard ng;
    ex.run1(batch.images);
    return out;
  };
  std::vector<double> expected;
  for (size_t i = 0; i < 2; ++i) {
    const char* v = i == 0 ? "act" : "pool";
    auto [w, b] = mod->adapter(i);
    at::NoGradGuard ng;
    expected.push_back(at::mse_loss(at::linear(features(student, v), w, b), features(*teacher, v)).item<double>());
  }
  const at::Tensor w0 = mod->adapter(0).first.detach().clone();
  train::Trainer trainer(student, quick(1, 1));  // one step: its terms come before the update
  trainer.add_modifier(mod);
  trainer.fit(*fmnist_loader(64, 64));
  const auto& terms = mod->epochs().at(0).terms;
  // Same arithmetic in a different order (executor vs the trainer's tape): float32 rounding only.
  EXPECT_NEAR(terms.at("hint_act"), expected[0], 1e-5 * expected[0]);
  EXPECT_NEAR(terms.at("hint_pool"), expected[1], 1e-5 * expected[1]);
  EXPECT_GT(expected[0], 0.0);
  // With a learning rate the adapters train with the student.
  auto mod2 = std::make_shared<distill::DistillModifier>(teacher, student, s);
  const at::Tensor a0 = mod2->adapter(0).first.detach().clone();
  train::Trainer trainer2(student, quick(1, 4));
  trainer2.add_modifier(mod2);
  trainer2.fit(*fmnist_loader(256, 64));
  EXPECT_FALSE(mod2->adapter(0).first.detach().equal(a0)) << "the optimizer must train the token adapter";
  EXPECT_TRUE(at::equal(a0, w0)) << "adapter init depends only on the seed and hint index";
}

TEST(DistillModifier, TokenHintNeedsEqualTokenCountsAndRanks) {
  auto teacher = std::make_shared<ir::Model>(token_net(16, 1));
  ir::Model student = token_net(8, 2);
  distill::DistillSettings s;
  s.hints = {{"act", "pool", "r.yaml:4:7"}};  // N x 28 x 8 against N x 16
  try {
    distill::DistillModifier m(teacher, student, s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("r.yaml:4:7: hint 'act' -> 'pool' needs N x C x H x W feature maps, N x T x D token "
                                         "features or N x D vectors of the same rank in both models, got student [1,28,8] "
                                         "and teacher [1,16]"),
              std::string::npos)
        << e.what();
  }
  s.hints = {{"act", "act", "r.yaml:4:7"}};
  s.attention = {{"act", "act", "r.yaml:5:7"}};
  try {
    distill::DistillModifier m(teacher, student, s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("r.yaml:5:7: attention 'act' -> 'act' needs N x C x H x W feature maps"),
              std::string::npos)
        << e.what();
  }
}

// Asks for a rebuild of the student's executor after every step (as a graph-changing modifier would).
struct RebuildEveryStep : train::Modifier {
  int rebuilds = 0;
  void on_step_end(train::TrainContext& ctx) override {
    ctx.request_rebuild();
    ++rebuilds;
  }
};

// The student's hint/attention taps stay attached when another modifier rebuilds the executor
// after every step: each step still has its features, and every loss term equals the one of the
// same run without rebuilds, bit for bit.
TEST(DistillModifier, TapsSurviveRebuildsRequestedByAnotherModifier) {
  auto teacher = fixture_teacher();
  std::vector<std::vector<distill::DistillEpoch>> runs;
  for (bool rebuild : {false, true}) {
    ir::Model student = zoo("resnet8", 1);
    auto mod = std::make_shared<distill::DistillModifier>(teacher, student, hint_and_attention());
    train::Trainer trainer(student, quick(2, 3));
    trainer.add_modifier(mod);
    auto rebuilder = std::make_shared<RebuildEveryStep>();
    if (rebuild) trainer.add_modifier(rebuilder);
    ASSERT_NO_THROW(trainer.fit(*fmnist_loader(256, 64)));
    EXPECT_EQ(rebuilder->rebuilds, rebuild ? 6 : 0);
    runs.push_back(mod->epochs());
  }
  ASSERT_EQ(runs[1].size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    ASSERT_EQ(runs[0][e].terms.size(), 4u);
    for (const auto& [k, v] : runs[0][e].terms) EXPECT_EQ(v, runs[1][e].terms.at(k)) << k << " epoch " << e + 1;
  }
}

// Adapters are initialised from their own generator (seed + hint index): ATen's global generator
// is neither reseeded nor advanced, and the adapter does not depend on earlier global draws.
TEST(DistillModifier, AdapterInitLeavesTheGlobalGeneratorAlone) {
  auto teacher = fixture_teacher();
  ir::Model student = zoo("lenet5");
  distill::DistillSettings s;
  s.hints = {{"relu1", "layer1.0.relu", "test"}};
  s.seed = 3;
  at::manual_seed(100);
  const at::Tensor expected_next = at::rand({16});
  at::manual_seed(100);
  distill::DistillModifier a(teacher, student, s);
  EXPECT_TRUE(at::equal(at::rand({16}), expected_next)) << "the adapter init moved or reseeded the global generator";
  at::rand({1000});
  distill::DistillModifier b(teacher, student, s);
  ASSERT_TRUE(a.adapter(0).first.defined());
  EXPECT_TRUE(at::equal(a.adapter(0).first, b.adapter(0).first));
  EXPECT_TRUE(at::equal(a.adapter(0).second, b.adapter(0).second));
}

TEST(DistillModifier, CachedTeacherLogitsGiveTheSameLossesAsTheUncachedRun) {
  auto teacher = fixture_teacher();
  std::vector<std::vector<distill::DistillEpoch>> runs;
  for (int64_t cache : {int64_t{0}, int64_t{384}}) {
    ir::Model student = zoo("resnet8", 2);
    distill::DistillSettings s;
    s.cache_size = cache;
    auto mod = std::make_shared<distill::DistillModifier>(teacher, student, s);
    train::Trainer trainer(student, quick(3));
    trainer.add_modifier(mod);
    trainer.fit(*fmnist_loader(384, 128));
    runs.push_back(mod->epochs());
  }
  for (size_t e = 0; e < 3; ++e) {
    for (const char* k : {"kd", "ce"}) {
      const double a = runs[0][e].terms.at(k), b = runs[1][e].terms.at(k);
      EXPECT_NEAR(a, b, 1e-4 * std::abs(a)) << k << " epoch " << e + 1;
    }
    EXPECT_EQ(runs[0][e].teacher_samples, 384);                // uncached: every sample, every epoch
    EXPECT_EQ(runs[1][e].teacher_samples, e == 0 ? 384 : 0);   // cached: only the first epoch
  }
  EXPECT_NE(runs[0][0].terms.at("kd"), runs[0][2].terms.at("kd"));  // the student did change
}

TEST(DistillModifier, UnknownScopeNamesModelAndCloseMatch) {
  auto teacher = fixture_teacher();
  ir::Model student = zoo("resnet8");
  distill::DistillSettings s;
  s.hints = {{"layer2.0.rellu", "layer2.0.relu", "r.yaml:9:12"}};
  try {
    distill::DistillModifier m(teacher, student, s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("r.yaml:9:12: hint scope 'layer2.0.rellu' does not exist in the student model "
                                         "'resnet8' (did you mean 'layer2.0.relu'?)"),
              std::string::npos)
        << e.what();
  }
  s.hints = {{"layer2.0.relu", "layer9.relu", "r.yaml:9:12"}};
  try {
    distill::DistillModifier m(teacher, student, s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist in the teacher model"), std::string::npos) << e.what();
  }
  s.hints = {{"layer2.0.relu", "layer1.0.relu", "r.yaml:9:12"}};
  try {
    distill::DistillModifier m(teacher, student, s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("spatial sizes differ (student [1,32,14,14], teacher [1,16,28,28])"),
              std::string::npos)
        << e.what();
  }
}
