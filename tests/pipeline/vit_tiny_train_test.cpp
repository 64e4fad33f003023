// The zoo's vit_tiny trains: a few AdamW steps (warm-up + cosine, label smoothing, the recipe's
// optimizer) on real Fashion-MNIST images lower the cross-entropy of those images, and every
// parameter (attention, norms, positional embedding, head) received an update.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "data/factory.h"
#include "data/loader.h"
#include "frontend/frontend.h"
#include "runtime/executor.h"
#include "train/trainer.h"

namespace mc {
namespace {

TEST(VitTinyTraining, AFewAdamWStepsLowerTheLossOnFashionMnist) {
  data::DatasetSpec spec;
  spec.kind = "fashion_mnist";
  spec.limit = 256;
  auto ds = data::make_dataset(spec);
  data::LoaderOptions lo;
  lo.batch_size = 64;
  lo.shuffle = true;
  lo.num_workers = 0;
  data::DataLoader loader(ds, lo);
  ASSERT_EQ(loader.size(), 4u);
  data::Batch all = ds->get_batch([] {
    std::vector<int64_t> idx(256);
    for (int64_t i = 0; i < 256; ++i) idx[static_cast<size_t>(i)] = i;
    return idx;
  }());

  frontend::ZooOptions zo;
  zo.input_shape = {1, 1, 28, 28};
  ir::Model m = frontend::build_zoo("vit_tiny", zo);
  const std::map<std::string, at::Tensor> before = [&] {
    std::map<std::string, at::Tensor> c;
    for (auto& [k, t] : m.tensors) c[k] = t.clone();
    return c;
  }();
  auto loss_of = [&] {
    runtime::Executor ex(m);
    return at::cross_entropy_loss(ex.run1(all.images), all.labels).item<double>();
  };
  const double loss0 = loss_of();

  train::TrainOptions o;
  o.epochs = 5;  // 20 steps
  o.quiet = true;
  o.optimizer.type = "adamw";
  o.optimizer.lr = 2e-3;
  o.optimizer.weight_decay = 0.05;
  o.schedule.type = "cosine";
  o.schedule.warmup_epochs = 1;
  o.label_smoothing = 0.1;
  train::Trainer t(m, o);
  train::TrainResult r = t.fit(loader);
  ASSERT_EQ(r.steps, 20);
  const double loss1 = loss_of();
  // At initialisation the logits are near 0 (head weights std 0.02): loss ~ ln 10 = 2.303.
  EXPECT_NEAR(loss0, std::log(10.0), 0.1);
  // Measured: 2.31 -> 1.83 after the 20 steps (seed 0; the first 4 are the warm-up); a model
  // that does not learn stays near ln 10. Bound at 2.0, between the two.
  EXPECT_LT(loss1, 2.0) << "loss " << loss0 << " -> " << loss1;
  EXPECT_LT(r.last().loss, r.epochs[0].loss);
  for (auto& [k, t0] : before) {
    if (t0.dim() == 0) continue;  // the attention scale is a constant
    EXPECT_FALSE(at::equal(t0, m.tensors.at(k))) << k << " was not updated";
  }
}

}  // namespace
}  // namespace mc
