// Evaluator: top-1 / top-5 / mean loss against a hand computation on fixed logits, and evaluate()
// over a loader in inference mode.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "data/loader.h"
#include "data/tensor_dataset.h"
#include "ir/model.h"
#include "train/evaluator.h"

namespace mc::train {
namespace {

// 4 samples, 7 classes. Ranks of the label (1 = largest logit):
//   sample 0: label 2, logit 0.9 is the largest            -> top1, top5
//   sample 1: label 0, 0.5 is 3rd (after 0.8, 0.7)          -> top5 only
//   sample 2: label 6, 0.05 is the smallest                 -> neither
//   sample 3: label 4, 0.3 is 5th (after 0.7, 0.6, 0.5, 0.4) -> top5 only
at::Tensor fixed_logits() {
  return at::tensor({0.1, 0.2, 0.9, 0.3, 0.0, 0.05, 0.15,   //
                     0.5, 0.8, 0.7, 0.1, 0.2, 0.3, 0.0,     //
                     0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05,    //
                     0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1},
                    at::kFloat)
      .reshape({4, 7});
}
at::Tensor fixed_labels() { return at::tensor({2, 0, 6, 4}, at::kLong); }

double hand_loss(const at::Tensor& logits, const at::Tensor& labels) {
  double sum = 0;
  for (int64_t i = 0; i < logits.size(0); ++i) {
    double lse = 0;
    for (int64_t j = 0; j < logits.size(1); ++j) lse += std::exp(logits[i][j].item<double>());
    sum += std::log(lse) - logits[i][labels[i].item<int64_t>()].item<double>();
  }
  return sum / static_cast<double>(logits.size(0));
}

TEST(Evaluator, TopkAgainstHandComputation) {
  EvalAccumulator acc;
  acc.add(fixed_logits(), fixed_labels());
  EvalResult r = acc.result();
  EXPECT_EQ(r.count, 4);
  EXPECT_DOUBLE_EQ(r.top1, 0.25);
  EXPECT_DOUBLE_EQ(r.top5, 0.75);
  EXPECT_NEAR(r.loss, hand_loss(fixed_logits(), fixed_labels()), 1e-6);

  // Accumulates over batches: the same samples split in two.
  EvalAccumulator split;
  split.add(fixed_logits().slice(0, 0, 3), fixed_labels().slice(0, 0, 3));
  split.add(fixed_logits().slice(0, 3, 4), fixed_labels().slice(0, 3, 4));
  EXPECT_DOUBLE_EQ(split.result().top1, 0.25);
  EXPECT_DOUBLE_EQ(split.result().top5, 0.75);
  EXPECT_NEAR(split.result().loss, r.loss, 1e-6);
}

TEST(Evaluator, FewerThanFiveClassesCountsEverythingInTop5) {
  EvalAccumulator acc;
  acc.add(at::tensor({0.1, 0.9, 0.8, 0.2}, at::kFloat).reshape({2, 2}), at::tensor({0, 0}, at::kLong));
  EXPECT_DOUBLE_EQ(acc.result().top1, 0.5);
  EXPECT_DOUBLE_EQ(acc.result().top5, 1.0);
}

TEST(Evaluator, BadShapesAreInputErrors) {
  EvalAccumulator acc;
  EXPECT_THROW(acc.add(at::zeros({3, 4}), at::zeros({2}, at::kLong)), InputError);
  EXPECT_EQ(acc.result().count, 0);
}

// A "model" whose logits are its input: flatten(x) on 1 x 1 x 7 images.
ir::Model identity_model() {
  ir::Model m;
  m.graph = ir::Graph::parse(R"IR(
graph(%x: f32[1,1,1,7]) {
  %y = flatten[start_dim=1](%x) @flatten
  return(%y)
}
)IR");
  m.infer_shapes();
  m.verify();
  return m;
}

TEST(Evaluator, EvaluateOverLoader) {
  ir::Model m = identity_model();
  auto ds = std::make_shared<data::TensorDataset>("fixed", fixed_logits().reshape({4, 1, 1, 7}), fixed_labels(), 7);
  data::LoaderOptions lo;
  lo.batch_size = 3;  // batches of 3 and 1
  lo.num_workers = 0;
  data::DataLoader loader(ds, lo);
  EvalResult r = evaluate(m, loader);
  EXPECT_EQ(r.count, 4);
  EXPECT_DOUBLE_EQ(r.top1, 0.25);
  EXPECT_DOUBLE_EQ(r.top5, 0.75);
  EXPECT_NEAR(r.loss, hand_loss(fixed_logits(), fixed_labels()), 1e-6);

  EvalResult first = evaluate(m, loader, /*max_batches=*/1);
  EXPECT_EQ(first.count, 3);
  EXPECT_NEAR(first.top1, 1.0 / 3.0, 1e-12);
  // Evaluating again gives the same result (the loader restarts).
  EXPECT_DOUBLE_EQ(evaluate(m, loader).top5, 0.75);
}

TEST(Evaluator, EmptyDataIsAnInputError) {
  ir::Model m = identity_model();
  auto ds = std::make_shared<data::TensorDataset>("one", at::zeros({1, 1, 1, 7}), at::zeros({1}, at::kLong), 7);
  data::LoaderOptions lo;
  lo.batch_size = 2;
  lo.drop_last = true;
  lo.num_workers = 0;
  data::DataLoader loader(ds, lo);
  EXPECT_THROW(evaluate(m, loader), InputError);
}

}  // namespace
}  // namespace mc::train
