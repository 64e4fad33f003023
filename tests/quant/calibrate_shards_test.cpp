// PTQ calibration split over the ranks of a data-parallel run (ranks as threads on loopback, each
// with its own World and model): every rank observes its shard of the calibration set, the min/max
// are all-reduced, and each rank's Calibration (calib.json's content) equals one process's over
// all the samples, to the bit. An order-dependent observer refuses a sharded loader.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <mutex>

#include "common/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/mnist.h"
#include "distributed/dist_test_util.h"
#include "frontend/frontend.h"
#include "quantization/calibrate.h"
#include "support/test_env.h"

namespace mc::quant {
namespace {

// 301 samples (odd: the ranks' shards differ by one), batches of 64 (rank 0: 151 samples in 3
// batches, rank 1: 150); the resnet8 fixture's activations.
constexpr int64_t kSamples = 301;

std::shared_ptr<const data::Dataset> fmnist_test() {
  static auto ds = data::open_mnist(data::kDefaultFashionMnistDir, "test", "fashion_mnist", "data.calib");
  return ds;
}

data::LoaderOptions loader_options(int rank, int world_size) {
  data::LoaderOptions lo;
  lo.batch_size = 64;
  lo.shuffle = false;
  lo.num_workers = 0;
  lo.rank = rank;
  lo.world_size = world_size;
  lo.remainder = data::LoaderOptions::Remainder::kSplit;
  return lo;
}

ir::Model resnet8() { return frontend::load_model(test::resnet8_fixture(), {1, 1, 28, 28}); }

Calibration calibrate_with(ir::Model& m, const data::LoaderOptions& lo, const std::string& observer, dist::World& w,
                           std::shared_ptr<const data::Dataset> ds = fmnist_test(), int64_t max_samples = kSamples) {
  QuantPlan plan = plan_qdq(m, QuantConfig{});
  ObserverOptions obs;
  obs.type = observer;
  data::DataLoader loader(std::move(ds), lo);
  return calibrate(m, plan, obs, loader, max_samples, w);
}

TEST(CalibrateShards, TwoRanksGiveTheCalibrationOfOneProcess) {
  dist::World one;
  ir::Model m = resnet8();
  const Calibration single = calibrate_with(m, loader_options(0, 1), "minmax", one);
  ASSERT_EQ(single.samples, kSamples);
  ASSERT_GE(single.entries.size(), 5u);

  std::mutex mu;
  std::vector<Calibration> per_rank(2);
  test::run_ranks(2, [&](int rank, dist::World& w) {
    ir::Model mr = resnet8();
    Calibration c = calibrate_with(mr, loader_options(rank, 2), "minmax", w);
    std::lock_guard<std::mutex> lock(mu);
    per_rank[static_cast<size_t>(rank)] = std::move(c);
  });
  for (int rank = 0; rank < 2; ++rank) {
    const Calibration& c = per_rank[static_cast<size_t>(rank)];
    EXPECT_EQ(c.samples, kSamples) << "rank " << rank;
    EXPECT_EQ(c.entries, single.entries) << "rank " << rank << ":\n" << c.entries.dump(1) << "\none process:\n"
                                         << single.entries.dump(1);
    for (const auto& [name, q] : single.qparams) {
      EXPECT_TRUE(at::equal(c.qparams.at(name).scale, q.scale)) << name;
      EXPECT_TRUE(at::equal(c.qparams.at(name).zero_point, q.zero_point)) << name;
    }
  }

  // The merge matters: rank 1's shard alone (the odd positions below kSamples) gives other ranges.
  std::vector<int64_t> odd;
  for (int64_t i = 1; i < kSamples; i += 2) odd.push_back(i);
  auto shard = std::make_shared<data::Subset>(fmnist_test(), odd);
  const Calibration alone = calibrate_with(m, loader_options(0, 1), "minmax", one, shard, 0);
  EXPECT_EQ(alone.samples, kSamples / 2);
  EXPECT_NE(alone.entries, single.entries);
}

TEST(CalibrateShards, AnOrderDependentObserverRefusesASplit) {
  std::vector<std::string> errors(2);
  test::run_ranks(2, [&](int rank, dist::World& w) {
    ir::Model m = resnet8();
    try {
      calibrate_with(m, loader_options(rank, 2), "entropy", w);
    } catch (const RuntimeFailure& e) {
      errors[static_cast<size_t>(rank)] = e.what();
    }
  });
  for (const std::string& e : errors) EXPECT_NE(e.find("observer 'entropy' depends on the order"), std::string::npos) << e;
}

TEST(CalibrateShards, TooFewSamplesForTheRanksIsAnInputErrorOnEveryRank) {
  // One sample for two ranks: rank 1's shard is empty; both ranks stop with the same error
  // instead of rank 0 waiting in a collective for rank 1.
  std::vector<std::string> errors(2);
  test::run_ranks(2, [&](int rank, dist::World& w) {
    ir::Model m = resnet8();
    try {
      calibrate_with(m, loader_options(rank, 2), "minmax", w, fmnist_test(), 1);
    } catch (const InputError& e) {
      errors[static_cast<size_t>(rank)] = e.what();
    }
  });
  for (const std::string& e : errors) EXPECT_NE(e.find("too small for 2 ranks"), std::string::npos) << e;
}

}  // namespace
}  // namespace mc::quant
