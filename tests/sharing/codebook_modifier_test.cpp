// Codebook fine-tuning (sharing/codebook_modifier.h) on the trained resnet8 fixture with real
// Fashion-MNIST batches: after EVERY optimizer step each clustered weight is bit for bit its
// codebook entry and pruned weights stay exactly zero; a centroid moves by the summed gradient of
// its weights (plain SGD); the pending state rebuilds a modifier that trains to the same weights.
#include "sharing/codebook_modifier.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "common/error.h"
#include "data/factory.h"
#include "data/loader.h"
#include "pipeline/layer_select.h"
#include "sharing/kmeans.h"
#include "support/test_env.h"
#include "train/trainer.h"

using namespace mc;

namespace {

const char* kPruned = "layer2.0.conv1";      // half its weights set to zero before clustering
const char* kPerChannel = "layer3.0.conv2";  // per-output-channel codebooks

// The fixture with every weight layer clustered to 16 entries (the one layer pruned first, one
// layer per channel); the model holds codebook values. `zero_masks`: the zeros of each weight.
struct Clustered {
  ir::Model model;
  std::vector<share::SharedWeight> shared;
  std::map<std::string, at::Tensor> zero_masks;
  std::string pruned_param;
};

Clustered clustered_resnet8() {
  Clustered c{ir::Model::load(test::resnet8_fixture()), {}, {}};
  at::NoGradGuard no_grad;
  for (const auto& l : pipeline::find_weight_layers(c.model)) {
    const at::Tensor& w = c.model.tensor(l.param);
    if (l.scope == kPruned) {
      w.masked_fill_(w.abs().lt(w.abs().median()), 0.0);
      c.pruned_param = l.param;
    }
    share::KMeansOptions o;
    o.k = 16;
    o.per_channel = l.scope == kPerChannel;
    const share::Clustered k = share::kmeans_cluster(w, o);
    w.copy_(share::decode(k));
    c.shared.push_back(share::shared_weight(l.param, k.codebook, k.indices, k.zero_entry, 0));
    c.zero_masks[l.param] = w.eq(0);
  }
  return c;
}

data::DataLoader fmnist(int64_t images) {
  data::DatasetSpec spec;
  spec.kind = "fashion_mnist";
  spec.limit = images;
  data::LoaderOptions lo;
  lo.batch_size = 64;
  lo.shuffle = true;
  return data::DataLoader(data::make_dataset(spec), lo);
}

// Runs after the codebook modifier: checks the invariants after every step.
class SharingWatch : public train::Modifier {
 public:
  SharingWatch(const share::CodebookModifier& cb, std::map<std::string, at::Tensor> zeros)
      : cb_(cb), zeros_(std::move(zeros)) {}
  void on_step_end(train::TrainContext& ctx) override {
    for (const auto& s : cb_.weights()) {
      const at::Tensor& w = ctx.model->tensor(s.param);
      const at::Tensor expect = s.codebook.detach().index_select(0, s.index.reshape({-1})).reshape(w.sizes());
      not_shared += !w.equal(expect);
      const at::Tensor& z = zeros_.at(s.param);
      revived += w.masked_select(z).ne(0).sum().item<int64_t>();
      new_zeros += w.masked_select(z.logical_not()).eq(0).sum().item<int64_t>();
    }
    ++steps;
  }
  int64_t steps = 0, not_shared = 0, revived = 0, new_zeros = 0;

 private:
  const share::CodebookModifier& cb_;
  std::map<std::string, at::Tensor> zeros_;
};

}  // namespace

TEST(CodebookModifier, EveryStepKeepsWeightsOnTheirCodebookAndZerosAtZero) {
  Clustered c = clustered_resnet8();
  const ir::Model before = c.model.clone();
  std::map<std::string, at::Tensor> codebooks0;
  for (const auto& s : c.shared) codebooks0[s.param] = s.codebook.detach().clone();
  ASSERT_FALSE(c.pruned_param.empty());
  ASSERT_GT(c.zero_masks.at(c.pruned_param).sum().item<int64_t>(), 0) << "the pruned layer has zeros";

  auto cb = std::make_shared<share::CodebookModifier>(c.shared);
  auto watch = std::make_shared<SharingWatch>(*cb, c.zero_masks);
  train::TrainOptions o;
  o.epochs = 1;
  o.optimizer.lr = 0.01;
  o.optimizer.momentum = 0.9;  // momentum and weight decay: the optimizer must not move weights itself
  o.optimizer.weight_decay = 5e-4;
  o.optimizer.no_decay_1d = false;  // decays the 1-d codebooks too, whose zero entry must stay 0
  o.quiet = true;
  train::Trainer t(c.model, o);
  t.add_modifier(cb);
  t.add_modifier(watch);
  data::DataLoader loader = fmnist(384);  // 6 steps
  t.fit(loader);

  EXPECT_EQ(watch->steps, 6);
  EXPECT_EQ(watch->not_shared, 0);
  EXPECT_EQ(watch->revived, 0);
  EXPECT_EQ(watch->new_zeros, 0);
  int64_t moved = 0;
  for (const auto& s : cb->weights()) {
    moved += !s.codebook.detach().equal(codebooks0.at(s.param));
    const at::Tensor& w = c.model.tensor(s.param);
    const int64_t distinct = std::get<0>(at::_unique(w)).numel();
    EXPECT_LE(distinct, s.codebook.numel()) << s.param;
    EXPECT_FALSE(w.equal(before.tensor(s.param))) << s.param << ": trained";
  }
  EXPECT_EQ(moved, static_cast<int64_t>(cb->weights().size())) << "every codebook was trained";
}

namespace {
// Runs before the codebook modifier: keeps the weights' gradients and the codebooks before the step.
class GradSpy : public train::Modifier {
 public:
  explicit GradSpy(const share::CodebookModifier& cb) : cb_(cb) {}
  void on_after_backward(train::TrainContext& ctx) override {
    grads.clear();
    old.clear();
    for (const auto& s : cb_.weights()) {
      grads[s.param] = ctx.model->tensor(s.param).grad().detach().clone();
      old[s.param] = s.codebook.detach().clone();
    }
    lr = ctx.optimizer->lr();
  }
  std::map<std::string, at::Tensor> grads, old;
  double lr = 0;

 private:
  const share::CodebookModifier& cb_;
};

// Runs after it: each centroid moved by -lr x (sum of its weights' gradients), checked in float64
// with bincount (not the modifier's scatter_add).
class SumCheck : public train::Modifier {
 public:
  SumCheck(const share::CodebookModifier& cb, const GradSpy& spy) : cb_(cb), spy_(spy) {}
  void on_step_end(train::TrainContext&) override {
    for (const auto& s : cb_.weights()) {
      const int64_t n = s.codebook.numel();
      const at::Tensor idx = s.index.reshape({-1});
      const at::Tensor g = spy_.grads.at(s.param).reshape({-1}).to(at::kDouble);
      at::Tensor sum = at::bincount(idx, g, n), abs_sum = at::bincount(idx, g.abs(), n);
      const at::Tensor members = at::bincount(idx, {}, n).to(at::kDouble);
      sum.index_fill_(0, s.zero, 0.0);  // the fixed zero entry does not move
      const at::Tensor c0 = spy_.old.at(s.param).to(at::kDouble), c1 = s.codebook.detach().to(at::kDouble);
      const at::Tensor expect = c0 - spy_.lr * sum;
      // float32 sums of m terms are within (m - 1) u sum|g| (u = 2^-24, sequential summation), the
      // product with lr and the subtraction add a rounding of u each on their result's scale.
      const double u = std::ldexp(1.0, -24);
      const at::Tensor tol = spy_.lr * members * u * abs_sum + 2 * u * (c0.abs() + spy_.lr * abs_sum) + 1e-30;
      bad += (c1 - expect).abs().gt(tol).sum().item<int64_t>();
      moved += c1.ne(c0).sum().item<int64_t>();
    }
  }
  int64_t bad = 0, moved = 0;

 private:
  const share::CodebookModifier& cb_;
  const GradSpy& spy_;
};
}  // namespace

TEST(CodebookModifier, CentroidsMoveByTheSummedGradientOfTheirWeights) {
  Clustered c = clustered_resnet8();
  auto cb = std::make_shared<share::CodebookModifier>(c.shared);
  auto spy = std::make_shared<GradSpy>(*cb);
  auto check = std::make_shared<SumCheck>(*cb, *spy);
  train::TrainOptions o;
  o.epochs = 1;
  o.optimizer.lr = 1e-3;  // plain SGD: step = -lr x gradient
  o.quiet = true;
  train::Trainer t(c.model, o);
  t.add_modifier(spy);
  t.add_modifier(cb);
  t.add_modifier(check);
  data::DataLoader loader = fmnist(192);  // 3 steps
  t.fit(loader);
  EXPECT_EQ(check->bad, 0);
  EXPECT_GT(check->moved, 0);
}

TEST(CodebookModifier, PendingStateTrainsToTheSameWeights) {
  Clustered c = clustered_resnet8();
  auto original = std::make_shared<share::CodebookModifier>(c.shared);
  std::optional<train::ModifierState> st = original->pending_state();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->kind, "codebook");
  st->settings = nlohmann::json::parse(st->settings.dump());  // as state.json stores it
  auto restored = share::CodebookModifier::from_state(*st);
  std::vector<ir::Model> models;
  for (const auto& cb : {original, restored}) {
    ir::Model m = c.model.clone();
    train::TrainOptions o;
    o.epochs = 1;
    o.optimizer.lr = 0.01;
    o.optimizer.momentum = 0.9;
    o.quiet = true;
    train::Trainer t(m, o);
    t.add_modifier(cb);
    data::DataLoader loader = fmnist(192);
    t.fit(loader);
    models.push_back(std::move(m));
  }
  for (auto& [k, v] : models[0].tensors) EXPECT_TRUE(at::equal(v, models[1].tensors.at(k))) << k;
  // A weight changed between cluster and training is refused.
  ir::Model m = c.model.clone();
  {
    at::NoGradGuard no_grad;
    m.tensor(c.shared[1].param).mul_(2.0);
  }
  train::TrainOptions o;
  o.epochs = 1;
  o.quiet = true;
  train::Trainer t(m, o);
  t.add_modifier(share::CodebookModifier::from_state(*st));
  data::DataLoader loader = fmnist(64);
  try {
    t.fit(loader);
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("is no longer its codebook's values"), std::string::npos) << e.what();
  }
}
