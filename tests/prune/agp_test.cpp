// Gradual pruning (AGP): the schedule is Zhu & Gupta's formula; a short finetune on the trained
// resnet8 ends at exactly the final sparsity and no pruned weight comes back in between (SGD with
// momentum and weight decay).
#include "pruning/agp.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "data/factory.h"
#include "data/loader.h"
#include "prune_test_util.h"
#include "train/trainer.h"

using namespace mc;

TEST(AgpSparsity, MatchesTheCubicFormula) {
  const double si = 0.1, sf = 0.9;
  const int64_t t0 = 100, tend = 500;  // n dt = 400
  for (int64_t t : {100, 150, 200, 300, 420, 499}) {
    const double expected = sf + (si - sf) * std::pow(1.0 - (t - t0) / 400.0, 3);
    EXPECT_NEAR(prune::agp_sparsity(si, sf, t, t0, tend), expected, 1e-12) << t;
  }
  EXPECT_DOUBLE_EQ(prune::agp_sparsity(si, sf, 0, t0, tend), si);
  EXPECT_DOUBLE_EQ(prune::agp_sparsity(si, sf, 500, t0, tend), sf);
  EXPECT_DOUBLE_EQ(prune::agp_sparsity(si, sf, 9000, t0, tend), sf);
  EXPECT_NEAR(prune::agp_sparsity(0.0, 0.8, 300, 100, 500), 0.8 - 0.8 * 0.125, 1e-12);  // half way: 1/8 left
}

namespace {
/// Runs after the AGP modifier each step: the set of nonzero weights may only shrink.
class NoRevival : public train::Modifier {
 public:
  explicit NoRevival(std::vector<std::string> names) : names_(std::move(names)) {}
  void on_step_end(train::TrainContext& ctx) override {
    for (auto& n : names_) {
      at::Tensor nz = ctx.model->tensor(n).ne(0);
      auto it = last_.find(n);
      if (it != last_.end()) revived += nz.logical_and(it->second.logical_not()).sum().item<int64_t>();
      last_[n] = nz;
    }
    ++steps;
  }
  int64_t revived = 0, steps = 0;

 private:
  std::vector<std::string> names_;
  std::map<std::string, at::Tensor> last_;
};
}  // namespace

TEST(AgpModifier, ShortFinetuneReachesExactSparsityWithoutRevival) {
  ir::Model m = ir::Model::load(mc::test::resnet8_fixture());
  auto ws = pipeline::find_weight_layers(m);
  std::vector<pipeline::WeightLayer> sel(ws.begin() + 1, ws.end());  // all but conv1
  prune::SparsityTargets final_targets;
  final_targets.layer.assign(sel.size(), -1.0);  // global
  final_targets.layer.back() = 0.5;              // fc layer-wise
  final_targets.global = 0.85;

  data::DatasetSpec spec;
  spec.kind = "fashion_mnist";
  spec.limit = 1280;
  data::LoaderOptions lo;
  lo.batch_size = 64;
  lo.shuffle = true;
  data::DataLoader loader(data::make_dataset(spec), lo);

  train::TrainOptions o;
  o.epochs = 2;  // 20 steps per epoch, 40 in all
  o.optimizer.lr = 0.05;
  o.optimizer.momentum = 0.9;
  o.optimizer.weight_decay = 5e-4;
  o.quiet = true;
  prune::AgpSchedule s{0.25, 1.5, 4, 0.2};  // steps 5..30, an update every 4 steps
  auto agp = std::make_shared<prune::AgpModifier>(sel, final_targets, s);
  std::vector<std::string> names;
  for (auto& w : sel) names.push_back(w.param);
  auto watch = std::make_shared<NoRevival>(names);
  train::Trainer t(m, o);
  t.add_modifier(agp);
  t.add_modifier(watch);
  t.fit(loader);

  EXPECT_EQ(agp->start_step(), 5);
  EXPECT_EQ(agp->end_step(), 30);
  ASSERT_GE(agp->updates().size(), 3u);
  // Updates at 5, 9, ..., 29 and the end step 30, each at the formula's sparsity.
  std::vector<int64_t> expected_steps;
  for (int64_t k = 5; k < 30; k += 4) expected_steps.push_back(k);
  expected_steps.push_back(30);
  ASSERT_EQ(agp->updates().size(), expected_steps.size());
  for (size_t i = 0; i < expected_steps.size(); ++i) {
    EXPECT_EQ(agp->updates()[i].first, expected_steps[i]);
    EXPECT_NEAR(agp->updates()[i].second, prune::agp_sparsity(0.2, 0.85, expected_steps[i], 5, 30), 1e-12);
  }
  EXPECT_EQ(watch->steps, 40);
  EXPECT_EQ(watch->revived, 0);
  // Final sparsity exact: global group and the fc override.
  int64_t zeros = 0, total = 0;
  for (size_t i = 0; i + 1 < sel.size(); ++i) {
    const at::Tensor& w = m.tensor(sel[i].param);
    total += w.numel();
    zeros += w.numel() - w.count_nonzero().item<int64_t>();
  }
  EXPECT_EQ(zeros, prune::prune_count(total, 0.85));
  const at::Tensor& fc = m.tensor(sel.back().param);
  EXPECT_EQ(fc.numel() - fc.count_nonzero().item<int64_t>(), prune::prune_count(fc.numel(), 0.5));
  EXPECT_EQ(m.tensor(ws[0].param).count_nonzero().item<int64_t>(), m.tensor(ws[0].param).numel());  // conv1 dense
}

// The state the run directory keeps for a pending AGP modifier (--resume) rebuilds a modifier that
// prunes exactly as the original: same updates, same weights after the same finetune.
TEST(AgpModifier, PendingStateRebuildsTheSameSchedule) {
  const ir::Model base = ir::Model::load(mc::test::resnet8_fixture());
  auto ws = pipeline::find_weight_layers(base);
  prune::SparsityTargets targets;
  targets.layer.assign(ws.size(), -1.0);
  targets.layer.front() = 0.3;  // conv1 layer-wise, the rest global
  targets.global = 0.7;
  auto original = std::make_shared<prune::AgpModifier>(ws, targets, prune::AgpSchedule{0.25, 1.0, 1, 0.1});
  std::optional<train::ModifierState> st = original->pending_state();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->kind, "agp_pruning");
  st->settings = nlohmann::json::parse(st->settings.dump());  // as state.json stores it
  auto restored = prune::AgpModifier::from_state(*st);

  std::vector<ir::Model> models;
  for (const auto& agp : {std::shared_ptr<prune::AgpModifier>(original), restored}) {
    ir::Model m = base.clone();
    data::DatasetSpec spec;
    spec.kind = "fashion_mnist";
    spec.limit = 256;
    data::LoaderOptions lo;
    lo.batch_size = 64;
    data::DataLoader loader(data::make_dataset(spec), lo);
    train::TrainOptions o;
    o.epochs = 1;
    o.optimizer.lr = 0.05;
    o.quiet = true;
    train::Trainer t(m, o);
    t.add_modifier(agp);
    t.fit(loader);
    models.push_back(std::move(m));
  }
  EXPECT_EQ(original->updates(), restored->updates());
  EXPECT_EQ(restored->updates().size(), 4u);  // steps 1, 2, 3 and the end step 4
  for (auto& [k, v] : models[0].tensors) EXPECT_TRUE(at::equal(v, models[1].tensors.at(k))) << k;
}
