// DataLoader: coverage, reproducible shuffling, drop_last, worker-count independence, fast path.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "data/loader.h"
#include "data/tensor_dataset.h"
#include "data/transform_spec.h"
#include "data_test_util.h"

namespace mc::data {
namespace {

using test::expect_input_error;
using test::loader_options;

// n samples whose label is the sample index and whose pixels encode it too.
std::shared_ptr<TensorDataset> indexed(int64_t n) {
  at::Tensor images = (at::arange(n, at::kLong) % 256).to(at::kByte).view({n, 1, 1, 1}).expand({n, 1, 4, 4});
  return std::make_shared<TensorDataset>("indexed", images.contiguous(), at::arange(n, at::kLong), n);
}

// Hides the fast path of another dataset (forces per-sample get()).
class SlowView : public Dataset {
 public:
  explicit SlowView(std::shared_ptr<const Dataset> base) : base_(std::move(base)) {}
  size_t size() const override { return base_->size(); }
  Example get(size_t i) const override { return base_->get(i); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::vector<int64_t> sample_shape() const override { return base_->sample_shape(); }
  std::string name() const override { return "slow"; }

 private:
  std::shared_ptr<const Dataset> base_;
};

std::vector<Batch> epoch(DataLoader& loader, uint64_t e) {
  loader.reset(e);
  std::vector<Batch> out;
  Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

std::vector<int64_t> order(const std::vector<Batch>& batches) {
  std::vector<int64_t> o;
  for (const auto& b : batches) {
    auto acc = b.labels.accessor<int64_t, 1>();
    for (int64_t i = 0; i < b.labels.size(0); ++i) o.push_back(acc[i]);
  }
  return o;
}

bool same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!at::equal(a[i].images, b[i].images) || !at::equal(a[i].labels, b[i].labels)) return false;
  }
  return true;
}

TEST(DataLoader, ShuffleVisitsEverySampleOncePerEpoch) {
  auto ds = indexed(1003);
  DataLoader loader(ds, loader_options(64, 2, nullptr, /*shuffle=*/true, /*seed=*/11));
  EXPECT_EQ(loader.size(), 16u);
  for (uint64_t e = 0; e < 3; ++e) {
    auto batches = epoch(loader, e);
    ASSERT_EQ(batches.size(), 16u);
    EXPECT_EQ(batches.back().size(), 1003u - 15 * 64);
    auto o = order(batches);
    std::vector<int64_t> sorted = o;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 1003; ++i) ASSERT_EQ(sorted[static_cast<size_t>(i)], i);
    // Images travel with their labels.
    for (const auto& b : batches) {
      EXPECT_TRUE(at::equal(b.images.select(2, 0).select(2, 0).select(1, 0),
                            (b.labels % 256).to(at::kFloat) / 255.0));
    }
    // What batch_indices() promises is what arrived.
    EXPECT_EQ(loader.batch_indices(e, 3), std::vector<int64_t>(o.begin() + 192, o.begin() + 256));
  }
}

TEST(DataLoader, OrderIsFixedBySeedAndEpoch) {
  auto ds = indexed(500);
  DataLoader a(ds, loader_options(50, 2, nullptr, true, 3));
  DataLoader b(ds, loader_options(50, 0, nullptr, true, 3));
  DataLoader c(ds, loader_options(50, 2, nullptr, true, 4));
  const auto a0 = order(epoch(a, 0)), a1 = order(epoch(a, 1));
  EXPECT_EQ(a0, order(epoch(b, 0)));
  EXPECT_EQ(a1, order(epoch(b, 1)));
  EXPECT_EQ(a0, order(epoch(a, 0)));  // going back to epoch 0 repeats it
  EXPECT_NE(a0, a1);
  EXPECT_NE(a0, order(epoch(c, 0)));
  // Without shuffle: index order.
  DataLoader plain(ds, loader_options(50, 2));
  auto p = order(epoch(plain, 5));
  for (int64_t i = 0; i < 500; ++i) ASSERT_EQ(p[static_cast<size_t>(i)], i);
}

TEST(DataLoader, DropLast) {
  auto ds = indexed(130);
  DataLoader keep(ds, loader_options(32, 2));
  DataLoader drop(ds, loader_options(32, 2, nullptr, false, 0, /*drop_last=*/true));
  EXPECT_EQ(keep.size(), 5u);
  EXPECT_EQ(drop.size(), 4u);
  EXPECT_EQ(drop.num_samples(), 128u);
  auto kb = epoch(keep, 0), db = epoch(drop, 0);
  ASSERT_EQ(kb.size(), 5u);
  ASSERT_EQ(db.size(), 4u);
  EXPECT_EQ(kb.back().size(), 2u);
  for (const auto& b : db) EXPECT_EQ(b.size(), 32u);
  DataLoader tiny(indexed(10), loader_options(32, 2, nullptr, false, 0, true));
  EXPECT_EQ(tiny.size(), 0u);
  EXPECT_TRUE(epoch(tiny, 0).empty());
}

TEST(DataLoader, WorkerCountDoesNotChangeBatches) {
  std::vector<TransformSpec> specs(3);
  specs[0].type = "random_crop";
  specs[0].size = {24};
  specs[0].padding = 2;
  specs[1].type = "horizontal_flip";
  specs[2].type = "normalize";
  specs[2].mean = {0.2860};
  specs[2].std = {0.3530};
  auto transforms = make_transforms(specs);
  auto ds = limit(test::fashion("test"), 1000);
  std::vector<Batch> ref;
  for (int workers : {0, 1, 2, 5}) {
    LoaderOptions o = loader_options(100, workers, transforms, true, 9);
    o.prefetch = workers == 5 ? 1 : 4;
    DataLoader loader(ds, o);
    EXPECT_EQ(loader.sample_shape(), (std::vector<int64_t>{1, 24, 24}));
    auto batches = epoch(loader, 2);
    ASSERT_EQ(batches.size(), 10u);
    EXPECT_EQ(batches[0].images.sizes(), (std::vector<int64_t>{100, 1, 24, 24}));
    if (ref.empty()) ref = batches;
    else EXPECT_TRUE(same_batches(ref, batches)) << workers << " workers";
  }
  // A different epoch draws different crops.
  DataLoader loader(ds, loader_options(100, 2, transforms, false, 9));
  DataLoader loader2(ds, loader_options(100, 2, transforms, false, 9));
  EXPECT_FALSE(same_batches(epoch(loader, 0), epoch(loader2, 1)));
}

TEST(DataLoader, FastPathEqualsPerSamplePath) {
  std::vector<TransformSpec> specs(3);
  specs[0].type = "pad";
  specs[0].padding = 2;
  specs[1].type = "center_crop";
  specs[1].size = {30, 26};
  specs[2].type = "normalize";
  specs[2].mean = {0.5};
  specs[2].std = {0.25};
  auto transforms = make_transforms(specs);
  auto fast = limit(test::fashion("train"), 700, true, 1);
  auto slow = std::make_shared<SlowView>(fast);
  ASSERT_TRUE(fast->has_fast_batch());
  ASSERT_FALSE(slow->has_fast_batch());
  DataLoader a(fast, loader_options(128, 2, transforms, true, 1));
  DataLoader b(slow, loader_options(128, 2, transforms, true, 1));
  auto ba = epoch(a, 0), bb = epoch(b, 0);
  ASSERT_EQ(ba.size(), bb.size());
  for (size_t i = 0; i < ba.size(); ++i) {
    EXPECT_TRUE(at::allclose(ba[i].images, bb[i].images, 1e-6, 1e-6)) << i;
    EXPECT_TRUE(at::equal(ba[i].labels, bb[i].labels));
  }
}

TEST(DataLoader, RangeForAndImplicitEpoch) {
  DataLoader loader(indexed(100), loader_options(30, 2));
  Batch b;
  ASSERT_TRUE(loader.next(b));  // starts epoch 0 implicitly
  EXPECT_EQ(loader.epoch(), 0u);
  size_t n = 0, samples = 0;
  for (const Batch& batch : loader) {  // restarts the partially read epoch
    ++n;
    samples += batch.size();
  }
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(samples, 100u);
  // Destroying a loader with batches in flight is fine.
  DataLoader busy(indexed(10000), loader_options(10, 3));
  ASSERT_TRUE(busy.next(b));
}

TEST(DataLoader, BadOptions) {
  auto ds = indexed(10);
  expect_input_error([&] { DataLoader l(ds, loader_options(0, 2)); }, {"batch_size"});
  expect_input_error([&] { DataLoader l(ds, loader_options(4, -1)); }, {"num_workers"});
  LoaderOptions o = loader_options(4, 1);
  o.prefetch = 0;
  expect_input_error([&] { DataLoader l(ds, o); }, {"prefetch"});
  std::vector<TransformSpec> specs(1);
  specs[0].type = "normalize";
  specs[0].mean = {0.4914, 0.4822, 0.4465};
  specs[0].std = {0.247, 0.243, 0.261};
  expect_input_error([&] { DataLoader l(ds, loader_options(4, 1, make_transforms(specs))); },
                     {"transforms do not fit", "indexed", "channel"});
}

// Not a timed assertion: prints the throughput for the report.
TEST(DataLoader, ThroughputFashionMnistNormalize) {
  std::vector<TransformSpec> specs(1);
  specs[0].type = "normalize";
  specs[0].mean = {0.2860};
  specs[0].std = {0.3530};
  auto ds = test::fashion("train");
  for (int workers : {0, 2}) {
    DataLoader loader(ds, loader_options(128, workers, make_transforms(specs), true, 0));
    Batch b;
    for (int k = 0; k < 20 && loader.next(b); ++k) {
    }  // warm up (epoch 0)
    const auto t0 = std::chrono::steady_clock::now();
    size_t n = 0;
    for (uint64_t e = 1; e <= 2; ++e) {
      loader.reset(e);
      while (loader.next(b)) n += b.size();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[ throughput ] fashion_mnist train, batch 128, normalize, shuffle, %d workers: %.0f img/s\n",
                workers, n / s);
    EXPECT_EQ(n, 2u * 60000u);
  }
}

}  // namespace
}  // namespace mc::data
