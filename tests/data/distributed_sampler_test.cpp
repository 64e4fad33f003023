// DataLoader sharding for data-parallel runs (LoaderOptions::rank / world_size): the layout of
// torch.utils.data.DistributedSampler, and the property the equivalence of W processes x batch B
// with one process x batch W*B rests on: batch b of all ranks together is batch b of one process.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "common/error.h"
#include "data/loader.h"
#include "data/tensor_dataset.h"

namespace mc::data {
namespace {

std::shared_ptr<TensorDataset> indexed(int64_t n) {
  at::Tensor images = (at::arange(n, at::kLong) % 256).to(at::kByte).view({n, 1, 1, 1}).expand({n, 1, 2, 2});
  return std::make_shared<TensorDataset>("indexed", images.contiguous(), at::arange(n, at::kLong), n);
}

LoaderOptions opts(int64_t batch, int rank, int world, LoaderOptions::Remainder rem, bool shuffle = true) {
  LoaderOptions o;
  o.batch_size = batch;
  o.shuffle = shuffle;
  o.seed = 7;
  o.num_workers = 0;
  o.rank = rank;
  o.world_size = world;
  o.remainder = rem;
  return o;
}

// Every batch's labels (= sample indices) of an epoch.
std::vector<std::vector<int64_t>> epoch_batches(DataLoader& l, uint64_t epoch) {
  std::vector<std::vector<int64_t>> out;
  l.reset(epoch);
  Batch b;
  while (l.next(b)) {
    out.emplace_back(b.labels.data_ptr<int64_t>(), b.labels.data_ptr<int64_t>() + b.labels.numel());
    EXPECT_TRUE(b.labels.equal(b.indices));
  }
  return out;
}

TEST(DistributedSampler, RanksTogetherMakeTheOneProcessBatch) {
  const int64_t n = 1000, B = 16;
  for (int W : {2, 3}) {
    auto ds = indexed(n);
    DataLoader one(ds, opts(B * W, 0, 1, LoaderOptions::Remainder::kPad));
    for (uint64_t epoch : {0u, 3u}) {
      auto global = epoch_batches(one, epoch);
      std::vector<std::vector<std::vector<int64_t>>> per_rank;
      for (int r = 0; r < W; ++r) {
        DataLoader l(ds, opts(B, r, W, LoaderOptions::Remainder::kPad));
        per_rank.push_back(epoch_batches(l, epoch));
        EXPECT_EQ(per_rank.back().size(), l.size());
      }
      // Every full batch of the one-process run is the union of the ranks' batch b.
      const size_t full = static_cast<size_t>(n / (B * W));
      for (size_t b = 0; b < full; ++b) {
        std::multiset<int64_t> ranks_union, one_batch(global[b].begin(), global[b].end());
        for (int r = 0; r < W; ++r) ranks_union.insert(per_rank[r][b].begin(), per_rank[r][b].end());
        ASSERT_EQ(ranks_union, one_batch) << "W " << W << " epoch " << epoch << " batch " << b;
      }
      // DistributedSampler's layout: rank r's k-th sample is position r + k*W of the epoch's order.
      std::vector<int64_t> order;
      for (auto& b : global) order.insert(order.end(), b.begin(), b.end());
      for (int r = 0; r < W; ++r) {
        std::vector<int64_t> mine;
        for (auto& b : per_rank[r]) mine.insert(mine.end(), b.begin(), b.end());
        ASSERT_EQ(mine.size(), static_cast<size_t>((n + W - 1) / W));
        for (size_t k = 0; k < mine.size(); ++k) ASSERT_EQ(mine[k], order[(r + k * W) % n]);
      }
    }
  }
}

TEST(DistributedSampler, PadRepeatsDropLosesSplitCountsOnce) {
  const int64_t n = 10;
  auto ds = indexed(n);
  const int W = 4;  // 10 = 2*4 + 2
  std::multiset<int64_t> pad, drop, split;
  for (int r = 0; r < W; ++r) {
    DataLoader p(ds, opts(3, r, W, LoaderOptions::Remainder::kPad));
    DataLoader d(ds, opts(3, r, W, LoaderOptions::Remainder::kDrop));
    DataLoader s(ds, opts(3, r, W, LoaderOptions::Remainder::kSplit, /*shuffle=*/false));
    EXPECT_EQ(p.num_samples(), 3u);
    EXPECT_EQ(d.num_samples(), 2u);
    EXPECT_EQ(s.num_samples(), r < 2 ? 3u : 2u);
    for (auto* l : {&p, &d, &s})
      for (auto& b : epoch_batches(*l, 1)) (l == &p ? pad : l == &d ? drop : split).insert(b.begin(), b.end());
  }
  // pad: all 10 once, plus the first 2 of the order again; drop: 8 distinct; split: each once.
  EXPECT_EQ(pad.size(), 12u);
  EXPECT_EQ(std::set<int64_t>(pad.begin(), pad.end()).size(), 10u);
  EXPECT_EQ(drop.size(), 8u);
  EXPECT_EQ(std::set<int64_t>(drop.begin(), drop.end()).size(), 8u);
  std::multiset<int64_t> all;
  for (int64_t i = 0; i < n; ++i) all.insert(i);
  EXPECT_EQ(split, all);
}

TEST(DistributedSampler, BatchIndicesMatchNextAndBadRankIsRefused) {
  auto ds = indexed(50);
  DataLoader l(ds, opts(4, 1, 3, LoaderOptions::Remainder::kPad));
  auto batches = epoch_batches(l, 2);
  DataLoader fresh(ds, opts(4, 1, 3, LoaderOptions::Remainder::kPad));
  for (size_t b = 0; b < batches.size(); ++b) EXPECT_EQ(fresh.batch_indices(2, b), batches[b]);
  EXPECT_THROW(DataLoader(ds, opts(4, 3, 3, LoaderOptions::Remainder::kPad)), InputError);
  EXPECT_THROW(DataLoader(ds, opts(4, -1, 2, LoaderOptions::Remainder::kPad)), InputError);
}

}  // namespace
}  // namespace mc::data
