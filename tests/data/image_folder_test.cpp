// Image folders made at test time with OpenCV-written PNGs.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "data/factory.h"
#include "data/image_folder.h"
#include "data/loader.h"
#include "data/transform_spec.h"
#include "data_test_util.h"
#include "support/test_env.h"

namespace mc::data {
namespace {

namespace fs = std::filesystem;
using test::expect_input_error;

// Writes a w x h PNG whose pixel (y, x) is BGR (b + x, g + y, r).
void write_png(const std::string& path, int h, int w, int b, int g, int r) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(b + x, g + y, r);
  }
  ASSERT_TRUE(cv::imwrite(path, m)) << path;
}

class ImageFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* c : {"dog", "bird", "cat"}) fs::create_directories(root.file(c));
    write_png(root.file("dog/b.png"), 4, 5, 10, 20, 30);
    write_png(root.file("dog/a.png"), 4, 5, 40, 50, 60);
    write_png(root.file("bird/x.png"), 4, 5, 70, 80, 90);
    write_png(root.file("cat/1.png"), 4, 5, 100, 110, 120);
    test::write_bytes(root.file("cat/notes.txt"), "not an image, ignored");
    test::write_bytes(root.file("README"), "ignored");
  }
  mc::test::TempDir root;
};

TEST_F(ImageFolder, ClassesLabelsAndOrder) {
  ImageFolderDataset ds(root.path());
  EXPECT_EQ(ds.class_names(), (std::vector<std::string>{"bird", "cat", "dog"}));
  EXPECT_EQ(ds.num_classes(), 3);
  ASSERT_EQ(ds.size(), 4u);
  EXPECT_EQ(ds.files()[0], root.file("bird/x.png"));
  EXPECT_EQ(ds.files()[2], root.file("dog/a.png"));
  EXPECT_EQ(ds.files()[3], root.file("dog/b.png"));
  EXPECT_EQ(std::vector<int64_t>({ds.label(0), ds.label(1), ds.label(2), ds.label(3)}),
            (std::vector<int64_t>{0, 1, 2, 2}));
  EXPECT_EQ(ds.sample_shape(), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_FALSE(ds.has_fast_batch());
}

TEST_F(ImageFolder, PixelsAreRgbInUnitRange) {
  ImageFolderDataset ds(root.path());
  Example ex = ds.get(3);  // dog/b.png: BGR (10 + x, 20 + y, 30)
  EXPECT_EQ(ex.label, 2);
  ASSERT_EQ(ex.image.sizes(), (std::vector<int64_t>{3, 4, 5}));
  auto a = ex.image.accessor<float, 3>();
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 5; ++x) {
      EXPECT_FLOAT_EQ(a[0][y][x], 30 / 255.0f);           // R
      EXPECT_FLOAT_EQ(a[1][y][x], (20 + y) / 255.0f);     // G
      EXPECT_FLOAT_EQ(a[2][y][x], (10 + x) / 255.0f);     // B
    }
  }
}

TEST_F(ImageFolder, GrayscaleAndFactory) {
  DatasetSpec spec;
  spec.kind = "imagefolder";
  spec.path = root.path();
  spec.channels = 1;
  auto ds = make_dataset(spec);
  EXPECT_EQ(ds->sample_shape(), (std::vector<int64_t>{1, 4, 5}));
  // OpenCV's gray = 0.299 R + 0.587 G + 0.114 B, rounded.
  const float expect = std::round(0.299f * 30 + 0.587f * 20 + 0.114f * 10) / 255.0f;
  EXPECT_NEAR(ds->get(3).image[0][0][0].item<float>(), expect, 1.0f / 255.0f);
}

TEST_F(ImageFolder, LoaderBatchesWithResize) {
  write_png(root.file("cat/2.png"), 9, 7, 1, 2, 3);  // different size
  auto ds = std::make_shared<ImageFolderDataset>(root.path());
  {
    DataLoader loader(ds, test::loader_options(5, 0));
    Batch b;
    expect_input_error([&] { loader.next(b); }, {"resize"});
  }
  TransformSpec resize;
  resize.type = "resize";
  resize.size = {6, 6};
  DataLoader loader(ds, test::loader_options(5, 2, make_transforms({resize})));
  EXPECT_EQ(loader.sample_shape(), (std::vector<int64_t>{3, 6, 6}));
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{5, 3, 6, 6}));
  EXPECT_EQ(b.labels.sizes(), (std::vector<int64_t>{5}));
  EXPECT_FALSE(loader.next(b));
}

TEST_F(ImageFolder, UnreadableImageNamesTheFile) {
  const std::string bad = root.file("cat/broken.png");
  test::write_bytes(bad, "definitely not a png");
  ImageFolderDataset ds(root.path());
  ASSERT_EQ(ds.size(), 5u);
  EXPECT_EQ(ds.files()[2], bad);
  expect_input_error([&] { ds.get(2); }, {bad, "cannot decode"});
  // Through worker threads too: batch 1 = samples {2, 3} fails, batches 0 and 2 arrive.
  DataLoader loader(std::make_shared<ImageFolderDataset>(root.path()), test::loader_options(2, 2));
  Batch b;
  EXPECT_TRUE(loader.next(b));
  expect_input_error([&] { loader.next(b); }, {bad});
  EXPECT_TRUE(loader.next(b));
  EXPECT_EQ(b.size(), 1u);
  EXPECT_FALSE(loader.next(b));
}

TEST(ImageFolderFlat, UnlabelledOnlyWhenAllowed) {
  mc::test::TempDir tmp;
  write_png(tmp.file("b.png"), 4, 5, 10, 20, 30);
  write_png(tmp.file("a.png"), 4, 5, 40, 50, 60);
  test::write_bytes(tmp.file("notes.txt"), "ignored");
  ImageFolderDataset ds(tmp.path(), 3, "data.calib", /*allow_flat=*/true);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_FALSE(ds.has_labels());
  EXPECT_EQ(ds.num_classes(), 0);
  EXPECT_EQ(ds.files()[0], tmp.file("a.png"));
  EXPECT_EQ(ds.label(1), kNoLabel);
  EXPECT_EQ(ds.get(1).label, kNoLabel);
  EXPECT_FLOAT_EQ(ds.get(0).image[0][0][0].item<float>(), 60.0f / 255.0f);  // R of a.png
  expect_input_error([&] { ImageFolderDataset flat(tmp.path()); },
                     {tmp.path(), "no class subdirectories", "only data.calib may be a flat folder"});
}

TEST(ImageFolderErrors, MissingEmptyAndNoImages) {
  mc::test::TempDir tmp;
  expect_input_error([&] { ImageFolderDataset ds(tmp.file("missing")); }, {tmp.file("missing"), "not found"});
  expect_input_error([&] { ImageFolderDataset ds(tmp.path()); }, {tmp.path(), "no class subdirectories"});
  fs::create_directories(tmp.file("a"));
  test::write_bytes(tmp.file("a/readme.txt"), "x");
  expect_input_error([&] { ImageFolderDataset ds(tmp.path()); }, {tmp.path(), "no images"});
  expect_input_error([&] { ImageFolderDataset ds(tmp.path(), 4); }, {"channels"});
}

}  // namespace
}  // namespace mc::data
