// Subset views, limit, calibration subsets and the dataset factory.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <set>

#include "data/dataset.h"
#include "data/factory.h"
#include "data/random.h"
#include "data_test_util.h"

namespace mc::data {
namespace {

using test::expect_input_error;

TEST(Subset, MapsIndicesAndKeepsFastPath) {
  auto base = test::fashion("test");
  Subset s(base, {10, 3, 10});
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.label(0), base->label(10));
  EXPECT_EQ(s.label(1), base->label(3));
  EXPECT_TRUE(at::equal(s.get(2).image, base->get(10).image));
  EXPECT_TRUE(s.has_fast_batch());
  Batch b = s.get_batch({1, 0});
  EXPECT_TRUE(at::equal(b.images[0], base->get(3).image));
  EXPECT_EQ(s.num_classes(), 10);
  EXPECT_EQ(s.sample_shape(), base->sample_shape());
  expect_input_error([&] { Subset bad(base, {10000}); }, {"10000", "out of range"});
}

TEST(Subset, LimitFirstAndShuffled) {
  auto base = test::fashion("test");
  auto first = limit(base, 5);
  ASSERT_EQ(first->size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(first->label(i), base->label(i));
  EXPECT_EQ(limit(base, 20000).get(), base.get());  // larger than the dataset: unchanged

  auto a = limit(base, 300, true, 7), b = limit(base, 300, true, 7), c = limit(base, 300, true, 8);
  const auto& ia = dynamic_cast<const Subset&>(*a).indices();
  EXPECT_EQ(ia, dynamic_cast<const Subset&>(*b).indices());
  EXPECT_NE(ia, dynamic_cast<const Subset&>(*c).indices());
  EXPECT_EQ(std::set<int64_t>(ia.begin(), ia.end()).size(), 300u);
  // A random choice covers all classes.
  at::Tensor hist = at::bincount(a->all_labels(), {}, 10);
  EXPECT_GT(hist.min().item<int64_t>(), 10);
  expect_input_error([&] { limit(base, 0); }, {"limit"});
}

TEST(Subset, CalibSubset) {
  auto base = test::fashion("train");
  auto calib = calib_subset(base, 512, 3);
  EXPECT_EQ(calib->size(), 512u);
  EXPECT_EQ(dynamic_cast<const Subset&>(*calib).indices(),
            dynamic_cast<const Subset&>(*calib_subset(base, 512, 3)).indices());
  EXPECT_EQ(calib_subset(base, 100000, 3)->size(), 60000u);
  expect_input_error([&] { calib_subset(base, 0, 3); }, {"samples"});
}

TEST(Random, PermutationIsAPermutationAndSeeded) {
  auto p = random_permutation(1000, 42);
  std::set<int64_t> s(p.begin(), p.end());
  EXPECT_EQ(s.size(), 1000u);
  EXPECT_EQ(*s.begin(), 0);
  EXPECT_EQ(*s.rbegin(), 999);
  EXPECT_EQ(p, random_permutation(1000, 42));
  EXPECT_NE(p, random_permutation(1000, 43));
  EXPECT_NE(mix_seed(1, 2), mix_seed(2, 1));
  EXPECT_TRUE(random_permutation(0, 1).empty());
}

TEST(Factory, KindsLimitAndErrors) {
  DatasetSpec spec;
  spec.kind = "fashion_mnist";
  spec.split = "test";
  spec.limit = 100;
  auto ds = make_dataset(spec);
  EXPECT_EQ(ds->size(), 100u);
  EXPECT_EQ(ds->label(0), test::fashion("test")->label(0));
  spec.kind = "imagenet";
  expect_input_error([&] { make_dataset(spec); }, {"imagenet", "fashion_mnist, mnist, cifar10, imagefolder, npy"});
  spec.kind = "fashion_mnist";
  spec.channels = 3;
  expect_input_error([&] { make_dataset(spec); }, {"channels"});
  spec.channels = 0;
  spec.limit = -1;
  expect_input_error([&] { make_dataset(spec); }, {"data.test.limit"});
}

}  // namespace
}  // namespace mc::data
