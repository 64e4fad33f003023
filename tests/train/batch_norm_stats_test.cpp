// train::recalibrate_batch_norm against ATen: after recalibration on batches B, every BatchNorm's
// running mean/var are the mean over B of its input's per-batch mean / unbiased variance (torch's
// momentum=None), the input computed here with at::conv2d / at::batch_norm in training mode.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "data/loader.h"
#include "data/tensor_dataset.h"
#include "ir/model.h"
#include "runtime/executor.h"
#include "train/batch_norm_stats.h"

namespace mc::train {
namespace {

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// conv1(2->4) -> bn1 -> relu -> conv2(4->3) -> bn2 -> mean over H, W: the second BatchNorm's input
// depends on the first's batch statistics, as in a network.
ir::Model make_net() {
  ir::Model m;
  m.graph = ir::Graph::parse(R"IR(
graph(%x: f32[8,2,5,5]) {
  %w1 = param[name="conv1.weight"]() @conv1
  %c1 = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%x, %w1) @conv1
  %g1 = param[name="bn1.weight"]() @bn1
  %b1 = param[name="bn1.bias"]() @bn1
  %m1 = constant[name="bn1.running_mean"]() @bn1
  %v1 = constant[name="bn1.running_var"]() @bn1
  %n1 = batch_norm[eps=1e-05, momentum=0.1](%c1, %g1, %b1, %m1, %v1) @bn1
  %r1 = relu(%n1) @relu1
  %w2 = param[name="conv2.weight"]() @conv2
  %c2 = conv2d[stride=[1,1], padding=[0,0], dilation=[1,1], groups=1](%r1, %w2) @conv2
  %g2 = param[name="bn2.weight"]() @bn2
  %b2 = param[name="bn2.bias"]() @bn2
  %m2 = constant[name="bn2.running_mean"]() @bn2
  %v2 = constant[name="bn2.running_var"]() @bn2
  %n2 = batch_norm[eps=1e-05, momentum=0.1](%c2, %g2, %b2, %m2, %v2) @bn2
  %y = mean[dims=[2,3], keepdim=0](%n2) @pool
  return(%y)
}
)IR");
  auto g = gen(3);
  m.tensors["conv1.weight"] = at::empty({4, 2, 3, 3}).normal_(0, 0.5, g);
  m.tensors["bn1.weight"] = at::empty({4}).uniform_(0.5, 1.5, g);
  m.tensors["bn1.bias"] = at::empty({4}).normal_(0, 0.3, g);
  m.tensors["conv2.weight"] = at::empty({3, 4, 3, 3}).normal_(0, 0.5, g);
  m.tensors["bn2.weight"] = at::empty({3}).uniform_(0.5, 1.5, g);
  m.tensors["bn2.bias"] = at::empty({3}).normal_(0, 0.3, g);
  // Stale statistics, far from anything the data gives.
  for (const char* bn : {"bn1", "bn2"}) {
    const int64_t c = std::string(bn) == "bn1" ? 4 : 3;
    m.tensors[std::string(bn) + ".running_mean"] = at::full({c}, 7.0);
    m.tensors[std::string(bn) + ".running_var"] = at::full({c}, 9.0);
  }
  m.infer_shapes();
  m.verify();
  return m;
}

std::unique_ptr<data::DataLoader> loader(int64_t n, int64_t batch) {
  auto g = gen(5);
  // Not centred, per-channel scales: the statistics differ from batch to batch and from 0 / 1.
  at::Tensor images = at::empty({n, 2, 5, 5}).normal_(0.5, 1.0, g) * at::tensor({1.0f, 3.0f}).view({1, 2, 1, 1});
  auto ds = std::make_shared<data::TensorDataset>("synthetic", images, at::zeros({n}, at::kLong), 3);
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.num_workers = 0;
  return std::make_unique<data::DataLoader>(ds, lo);
}

// Per channel (dim 1): mean and unbiased variance over N, H, W.
std::pair<at::Tensor, at::Tensor> stats(const at::Tensor& x) {
  return {x.mean({0, 2, 3}), x.var({0, 2, 3}, /*unbiased=*/true)};
}

TEST(BatchNormRecalibration, RunningStatsAreTheMeanOfTheBatchStatisticsOfEachInput) {
  ir::Model m = make_net();
  const ir::Model before = m.clone();
  auto l = loader(40, 8);  // 5 batches; 3 used
  EXPECT_EQ(recalibrate_batch_norm(m, *l, 3), 3);

  // The oracle: the same forward in plain ATen, BatchNorm with batch statistics (training mode).
  const auto& t = before.tensors;
  at::Tensor mean1 = at::zeros({4}), var1 = at::zeros({4}), mean2 = at::zeros({3}), var2 = at::zeros({3});
  auto ol = loader(40, 8);
  ol->reset(0);
  data::Batch b;
  for (int k = 0; k < 3; ++k) {
    ASSERT_TRUE(ol->next(b));
    at::Tensor c1 = at::conv2d(b.images, t.at("conv1.weight"), at::Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{1, 1});
    auto [bm1, bv1] = stats(c1);
    at::Tensor n1 = at::batch_norm(c1, t.at("bn1.weight"), t.at("bn1.bias"), at::Tensor(), at::Tensor(), true, 0.0, 1e-5, false);
    at::Tensor c2 = at::conv2d(at::relu(n1), t.at("conv2.weight"), at::Tensor(), at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0});
    auto [bm2, bv2] = stats(c2);
    mean1 += bm1 / 3;
    var1 += bv1 / 3;
    mean2 += bm2 / 3;
    var2 += bv2 / 3;
  }
  // float32 sums over 8*25 (bn1) and 8*9 (bn2) values per channel, in another order than ATen's
  // batch_norm kernel, and three cumulative updates: observed differences are ~1e-6 relative;
  // 1e-4 relative leaves a margin while stale statistics (7, 9) or momentum 0.1 miss by far more.
  const double rtol = 1e-4, atol = 1e-5;
  EXPECT_TRUE(at::allclose(m.tensors.at("bn1.running_mean"), mean1, rtol, atol)) << m.tensors.at("bn1.running_mean") << mean1;
  EXPECT_TRUE(at::allclose(m.tensors.at("bn1.running_var"), var1, rtol, atol)) << m.tensors.at("bn1.running_var") << var1;
  EXPECT_TRUE(at::allclose(m.tensors.at("bn2.running_mean"), mean2, rtol, atol)) << m.tensors.at("bn2.running_mean") << mean2;
  EXPECT_TRUE(at::allclose(m.tensors.at("bn2.running_var"), var2, rtol, atol)) << m.tensors.at("bn2.running_var") << var2;
  // Weights untouched, and the batches differ (else the average would not be tested).
  for (const char* w : {"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias"})
    EXPECT_TRUE(at::equal(m.tensors.at(w), before.tensors.at(w))) << w;

  // Recalibrating again from other stale values gives the same statistics (the first batch
  // overwrites them: nothing of the old running values is left).
  ir::Model again = before.clone();
  again.tensors["bn1.running_mean"].fill_(-3.0);
  auto l2 = loader(40, 8);
  recalibrate_batch_norm(again, *l2, 3);
  EXPECT_TRUE(at::allclose(again.tensors.at("bn1.running_mean"), m.tensors.at("bn1.running_mean"), 0, 1e-6));

  // All batches when max_batches is 0.
  ir::Model all = before.clone();
  auto l3 = loader(40, 8);
  EXPECT_EQ(recalibrate_batch_norm(all, *l3, 0), 5);
}

TEST(BatchNormRecalibration, AModelWithoutBatchNormIsLeftAsItIs) {
  ir::Model m;
  m.graph = ir::Graph::parse(R"IR(
graph(%x: f32[8,2,5,5]) {
  %y = relu(%x) @relu
  return(%y)
}
)IR");
  m.infer_shapes();
  auto l = loader(16, 8);
  EXPECT_EQ(recalibrate_batch_norm(m, *l, 2), 0);
}

}  // namespace
}  // namespace mc::train
