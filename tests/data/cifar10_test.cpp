// CIFAR-10 binary batches written at test time from random bytes with known labels.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <random>

#include "data/cifar10.h"
#include "data/factory.h"
#include "data_test_util.h"
#include "support/test_env.h"

namespace mc::data {
namespace {

using test::expect_input_error;

// n records: label i % 10, then 3072 random pixel bytes.
std::string make_records(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes;
  for (int i = 0; i < n; ++i) {
    bytes.push_back(static_cast<char>(i % 10));
    for (int p = 0; p < 3072; ++p) bytes.push_back(static_cast<char>(rng() & 0xff));
  }
  return bytes;
}

TEST(Cifar10, TestBatchDecodesLabelsAndPlanes) {
  mc::test::TempDir dir;
  const std::string bytes = make_records(37, 1);
  test::write_bytes(dir.file("test_batch.bin"), bytes);
  auto ds = open_cifar10(dir.path(), "test");
  ASSERT_EQ(ds->size(), 37u);
  EXPECT_EQ(ds->num_classes(), 10);
  EXPECT_EQ(ds->sample_shape(), (std::vector<int64_t>{3, 32, 32}));
  EXPECT_EQ(ds->class_names().at(0), "airplane");
  for (size_t i : {size_t{0}, size_t{13}, size_t{36}}) {
    EXPECT_EQ(ds->label(i), static_cast<int64_t>(i % 10));
    Example ex = ds->get(i);
    EXPECT_EQ(ex.label, static_cast<int64_t>(i % 10));
    auto acc = ex.image.accessor<float, 3>();
    for (int c = 0; c < 3; ++c) {
      for (int y : {0, 7, 31}) {
        for (int x : {0, 19, 31}) {
          const auto byte = static_cast<unsigned char>(bytes[i * 3073 + 1 + c * 1024 + y * 32 + x]);
          EXPECT_FLOAT_EQ(acc[c][y][x], byte / 255.0f) << i << " " << c << " " << y << " " << x;
        }
      }
    }
  }
  Batch b = ds->get_batch({36, 0});
  EXPECT_TRUE(at::equal(b.images[0], ds->get(36).image));
  EXPECT_EQ(b.labels[0].item<int64_t>(), 6);
}

TEST(Cifar10, SingleFileAndTrainBatches) {
  mc::test::TempDir dir;
  int total = 0;
  for (int k = 1; k <= 5; ++k) {
    test::write_bytes(dir.file("data_batch_" + std::to_string(k) + ".bin"), make_records(k + 1, k));
    total += k + 1;
  }
  DatasetSpec spec;
  spec.kind = "cifar10";
  spec.path = dir.path();
  spec.split = "train";
  auto train = make_dataset(spec);
  EXPECT_EQ(train->size(), static_cast<size_t>(total));
  // Record 0 of data_batch_2 follows the 2 records of data_batch_1.
  auto second = open_cifar10(dir.file("data_batch_2.bin"), "train");
  EXPECT_EQ(second->size(), 3u);
  EXPECT_TRUE(at::equal(train->get(2).image, second->get(0).image));
}

TEST(Cifar10, BatchesBinSubdirectoryIsFound) {
  mc::test::TempDir dir;
  std::filesystem::create_directories(dir.file("cifar-10-batches-bin"));
  test::write_bytes(dir.file("cifar-10-batches-bin/test_batch.bin"), make_records(4, 3));
  EXPECT_EQ(open_cifar10(dir.path(), "test")->size(), 4u);
}

TEST(Cifar10, Errors) {
  mc::test::TempDir dir;
  expect_input_error([&] { open_cifar10(dir.path(), "test"); }, {dir.file("test_batch.bin"), "not found"});
  expect_input_error([&] { open_cifar10(dir.file("nope"), "test", "data.val"); }, {dir.file("nope"), "data.val.path"});
  test::write_bytes(dir.file("data_batch_1.bin"), make_records(2, 1));
  expect_input_error([&] { open_cifar10(dir.path(), "train"); }, {dir.file("data_batch_2.bin")});

  std::string truncated = make_records(3, 1);
  truncated.resize(truncated.size() - 100);
  test::write_bytes(dir.file("test_batch.bin"), truncated);
  expect_input_error([&] { open_cifar10(dir.path(), "test"); }, {dir.file("test_batch.bin"), "3073"});

  std::string bad_label = make_records(2, 1);
  bad_label[3073] = 42;
  test::write_bytes(dir.file("test_batch.bin"), bad_label);
  expect_input_error([&] { open_cifar10(dir.path(), "test"); }, {dir.file("test_batch.bin"), "label 42"});
}

}  // namespace
}  // namespace mc::data
