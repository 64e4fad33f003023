// MNIST-format idx datasets on the real Fashion-MNIST files, plus synthetic and broken idx files.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "data_test_util.h"
#include "data/factory.h"
#include "data/idx_file.h"
#include "data/mnist.h"
#include "support/test_env.h"

namespace mc::data {
namespace {

using test::expect_input_error;
using test::fashion;

const std::string kDir = kDefaultFashionMnistDir;

TEST(FashionMnist, SizesShapesAndClasses) {
  auto train = fashion("train");
  auto test = fashion("test");
  EXPECT_EQ(train->size(), 60000u);
  EXPECT_EQ(test->size(), 10000u);
  EXPECT_EQ(train->num_classes(), 10);
  EXPECT_EQ(train->sample_shape(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(train->name(), "fashion_mnist[train]");
  EXPECT_EQ(train->label(0), 9);  // the first training image is an ankle boot
  EXPECT_EQ(train->class_names().at(9), "Ankle boot");
  EXPECT_EQ(train->images().scalar_type(), at::kByte);
  EXPECT_TRUE(train->has_fast_batch());
}

TEST(FashionMnist, TestSplitHas1000PerClass) {
  at::Tensor hist = at::bincount(fashion("test")->all_labels(), {}, 10);
  for (int c = 0; c < 10; ++c) EXPECT_EQ(hist[c].item<int64_t>(), 1000) << "class " << c;
  at::Tensor train_hist = at::bincount(fashion("train")->all_labels(), {}, 10);
  for (int c = 0; c < 10; ++c) EXPECT_EQ(train_hist[c].item<int64_t>(), 6000) << "class " << c;
}

TEST(FashionMnist, SamplesAreFloatInUnitRange) {
  Example ex = fashion("train")->get(0);
  EXPECT_EQ(ex.label, 9);
  EXPECT_EQ(ex.image.scalar_type(), at::kFloat);
  EXPECT_EQ(ex.image.sizes(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_GE(ex.image.min().item<float>(), 0.0f);
  EXPECT_LE(ex.image.max().item<float>(), 1.0f);
  EXPECT_GT(ex.image.max().item<float>(), 0.5f);  // not a blank image
  // Exactly the stored bytes / 255.
  at::Tensor raw = fashion("train")->images()[0].to(at::kFloat) / 255.0;
  EXPECT_TRUE(at::equal(ex.image, raw));
}

TEST(FashionMnist, BatchMatchesPerSampleGet) {
  auto ds = fashion("test");
  std::vector<int64_t> idx = {5, 0, 9999, 42};
  Batch b = ds->get_batch(idx);
  ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{4, 1, 28, 28}));
  for (size_t k = 0; k < idx.size(); ++k) {
    Example ex = ds->get(static_cast<size_t>(idx[k]));
    EXPECT_TRUE(at::equal(b.images[static_cast<int64_t>(k)], ex.image));
    EXPECT_EQ(b.labels[static_cast<int64_t>(k)].item<int64_t>(), ex.label);
  }
}

TEST(FashionMnist, RawIdxFilesMatchGzip) {
  mc::test::TempDir tmp;
  for (const char* f : {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    auto r = mc::test::run_command("gunzip -c " + kDir + "/" + f + ".gz > " + tmp.file(f));
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  auto raw = open_mnist(tmp.path(), "test", "fashion_mnist");
  auto gz = fashion("test");
  ASSERT_EQ(raw->size(), 10000u);
  EXPECT_TRUE(at::equal(raw->images(), gz->images()));
  EXPECT_TRUE(at::equal(raw->labels(), gz->labels()));
}

TEST(FashionMnist, FactoryUsesDebianDirByDefault) {
  DatasetSpec spec;
  spec.kind = "fashion_mnist";
  spec.split = "test";
  auto ds = make_dataset(spec);
  EXPECT_EQ(ds->size(), 10000u);
  EXPECT_EQ(ds->num_classes(), 10);
}

// A tiny MNIST-format dataset written at test time (raw and gzip).
class SyntheticIdx : public ::testing::Test {
 protected:
  static std::string header(int ndim, std::initializer_list<uint32_t> dims) {
    std::string h = {0, 0, 8, static_cast<char>(ndim)};
    for (uint32_t d : dims) {
      for (int s = 24; s >= 0; s -= 8) h.push_back(static_cast<char>((d >> s) & 0xff));
    }
    return h;
  }
  void write_dataset(const std::string& prefix, int n) {
    std::string img = header(3, {static_cast<uint32_t>(n), 2, 3});
    std::string lab = header(1, {static_cast<uint32_t>(n)});
    for (int i = 0; i < n; ++i) {
      for (int p = 0; p < 6; ++p) img.push_back(static_cast<char>(i * 10 + p));
      lab.push_back(static_cast<char>(i % 10));
    }
    test::write_bytes(dir.file(prefix + "-images-idx3-ubyte"), img);
    test::write_bytes(dir.file(prefix + "-labels-idx1-ubyte"), lab);
  }
  mc::test::TempDir dir;
};

TEST_F(SyntheticIdx, RawAndGzipAreEquivalent) {
  write_dataset("train", 7);
  write_dataset("t10k", 3);
  auto train = open_mnist(dir.path(), "train", "mnist");
  ASSERT_EQ(train->size(), 7u);
  EXPECT_EQ(train->sample_shape(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(train->label(6), 6);
  EXPECT_FLOAT_EQ(train->get(2).image[0][1][2].item<float>(), 25.0f / 255.0f);
  EXPECT_EQ(open_mnist(dir.path(), "test", "mnist")->size(), 3u);

  ASSERT_EQ(mc::test::run_command("gzip " + dir.file("train-*")).exit_code, 0);
  auto gz = open_mnist(dir.path(), "train", "mnist");
  EXPECT_TRUE(at::equal(gz->images(), train->images()));
  EXPECT_TRUE(at::equal(gz->labels(), train->labels()));
}

TEST_F(SyntheticIdx, TruncatedRawFileIsInputError) {
  write_dataset("train", 5);
  const std::string f = dir.file("train-images-idx3-ubyte");
  std::string bytes = test::read_bytes(f);
  test::write_bytes(f, bytes.substr(0, bytes.size() - 4));
  expect_input_error([&] { open_mnist(dir.path(), "train", "mnist"); }, {f, "truncated"});
}

TEST_F(SyntheticIdx, ExtraTrailingDataIsInputError) {
  write_dataset("train", 5);
  const std::string f = dir.file("train-labels-idx1-ubyte");
  test::write_bytes(f, test::read_bytes(f) + "xx");
  expect_input_error([&] { read_idx(f); }, {f, "beyond"});
}

TEST_F(SyntheticIdx, BadMagicIsInputError) {
  const std::string f = dir.file("train-images-idx3-ubyte");
  test::write_bytes(f, "this is not an idx file at all");
  test::write_bytes(dir.file("train-labels-idx1-ubyte"), header(1, {0}));
  expect_input_error([&] { open_mnist(dir.path(), "train", "mnist"); }, {f, "magic"});
}

TEST_F(SyntheticIdx, MismatchedCountsIsInputError) {
  write_dataset("train", 5);
  const std::string lab = header(1, {4}) + std::string(4, '\1');
  test::write_bytes(dir.file("train-labels-idx1-ubyte"), lab);
  expect_input_error([&] { open_mnist(dir.path(), "train", "mnist"); }, {"5 images", "4 labels"});
}

TEST(IdxErrors, TruncatedGzipIsInputError) {
  mc::test::TempDir tmp;
  std::string gz = test::read_bytes(kDir + "/t10k-images-idx3-ubyte.gz");
  ASSERT_GT(gz.size(), 100000u);
  test::write_bytes(tmp.file("t10k-images-idx3-ubyte.gz"), gz.substr(0, gz.size() / 2));
  ASSERT_EQ(mc::test::run_command("cp " + kDir + "/t10k-labels-idx1-ubyte.gz " + tmp.path()).exit_code, 0);
  expect_input_error([&] { open_mnist(tmp.path(), "test", "fashion_mnist"); },
                     {tmp.file("t10k-images-idx3-ubyte.gz")});
}

TEST(IdxErrors, MissingDirectoryNamesPackageAndKey) {
  DatasetSpec spec;
  spec.kind = "fashion_mnist";
  spec.path = "/nonexistent/fmnist";
  expect_input_error([&] { make_dataset(spec); },
                     {"dataset 'fashion_mnist'", "/nonexistent/fmnist", "dataset-fashion-mnist", "data.train.path"});
}

TEST(IdxErrors, MissingFileNamesTheFile) {
  mc::test::TempDir tmp;
  DatasetSpec spec;
  spec.kind = "fashion_mnist";
  spec.path = tmp.path();
  spec.split = "test";
  expect_input_error([&] { make_dataset(spec); },
                     {tmp.path() + "/t10k-images-idx3-ubyte.gz not found", "dataset-fashion-mnist", "data.test.path"});
  spec.kind = "mnist";
  spec.config_key = "data.calib";
  expect_input_error([&] { make_dataset(spec); }, {"t10k-images-idx3-ubyte.gz", "data.calib.path"});
}

TEST(IdxErrors, BadSplitAndMissingPath) {
  expect_input_error([&] { open_mnist(kDir, "validation", "fashion_mnist"); }, {"validation", "train", "test"});
  DatasetSpec spec;
  spec.kind = "mnist";
  expect_input_error([&] { make_dataset(spec); }, {"mnist", "data.train.path"});
}

}  // namespace
}  // namespace mc::data
