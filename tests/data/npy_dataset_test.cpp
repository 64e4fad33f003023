// Datasets from .npy files written at test time by Debian's Python with NumPy.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "data/factory.h"
#include "data/npy_dataset.h"
#include "data_test_util.h"
#include "support/test_env.h"

namespace mc::data {
namespace {

using test::expect_input_error;

const char* kScript = R"PY(
import os, sys
import numpy as np
d = sys.argv[1]
u8 = (np.arange(6 * 2 * 3 * 4) % 251).astype(np.uint8).reshape(6, 2, 3, 4)
np.save(d + "/imgs_u8.npy", u8)
np.save(d + "/labels_i64.npy", np.array([0, 1, 2, 3, 4, 5], dtype=np.int64))
np.save(d + "/imgs_f32.npy", np.linspace(0, 1, 5 * 3 * 3, dtype=np.float32).reshape(5, 3, 3))
np.save(d + "/labels_i32.npy", np.array([1, 0, 1, 0, 2], dtype=np.int32))
os.makedirs(d + "/dir")
np.save(d + "/dir/images.npy", u8)
np.save(d + "/dir/labels.npy", np.array([5, 4, 3, 2, 1, 0], dtype=np.int64))
np.save(d + "/labels_short.npy", np.array([0, 1], dtype=np.int64))
np.save(d + "/labels_float.npy", np.zeros(6, dtype=np.float32))
np.save(d + "/imgs_2d.npy", np.zeros((6, 4), dtype=np.uint8))
np.save(d + "/labels_neg.npy", np.array([0, -1, 0, 0, 0, 0], dtype=np.int64))
)PY";

class NpyData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir = new mc::test::TempDir();
    test::write_bytes(dir->file("make.py"), kScript);
    auto r = mc::test::run_command("/usr/bin/python3 " + dir->file("make.py") + " " + dir->path());
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    delete dir;
    dir = nullptr;
  }
  static std::string f(const std::string& name) { return dir->file(name); }
  static mc::test::TempDir* dir;
};
mc::test::TempDir* NpyData::dir = nullptr;

TEST_F(NpyData, Uint8ImagesAndInt64Labels) {
  auto ds = open_npy(f("imgs_u8.npy"), f("labels_i64.npy"));
  ASSERT_EQ(ds->size(), 6u);
  EXPECT_EQ(ds->num_classes(), 6);
  EXPECT_EQ(ds->sample_shape(), (std::vector<int64_t>{2, 3, 4}));
  Example ex = ds->get(4);
  EXPECT_EQ(ex.label, 4);
  // element (4, 1, 2, 3) = flat index 4*24 + 1*12 + 2*4 + 3 = 119
  EXPECT_FLOAT_EQ(ex.image[1][2][3].item<float>(), 119 / 255.0f);
  Batch b = ds->get_batch({4, 1});
  EXPECT_TRUE(at::equal(b.images[0], ex.image));
}

TEST_F(NpyData, FloatNxHxWImagesAndInt32Labels) {
  DatasetSpec spec;
  spec.kind = "npy";
  spec.path = f("imgs_f32.npy");
  spec.labels_path = f("labels_i32.npy");
  auto ds = make_dataset(spec);
  ASSERT_EQ(ds->size(), 5u);
  EXPECT_EQ(ds->num_classes(), 3);
  EXPECT_EQ(ds->sample_shape(), (std::vector<int64_t>{1, 3, 3}));
  EXPECT_EQ(ds->label(4), 2);
  EXPECT_FLOAT_EQ(ds->get(4).image[0][2][2].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(ds->get(0).image[0][0][0].item<float>(), 0.0f);
  // get() returns a copy: modifying it leaves the dataset alone.
  at::Tensor img = ds->get(4).image;
  img.fill_(7.0f);
  EXPECT_FLOAT_EQ(ds->get(4).image[0][2][2].item<float>(), 1.0f);
}

TEST_F(NpyData, DirectoryWithImagesAndLabels) {
  auto ds = open_npy(dir->file("dir"), "");
  ASSERT_EQ(ds->size(), 6u);
  EXPECT_EQ(ds->label(0), 5);
}

TEST_F(NpyData, UnlabelledOnlyWhenLabelsAreOptional) {
  auto ds = open_npy(f("imgs_u8.npy"), "", "data.calib", /*labels_optional=*/true);
  ASSERT_EQ(ds->size(), 6u);
  EXPECT_FALSE(ds->has_labels());
  EXPECT_EQ(ds->num_classes(), 0);
  EXPECT_EQ(ds->label(3), kNoLabel);
  Batch b = ds->get_batch({0, 5});
  EXPECT_EQ(b.size(), 2u);
  EXPECT_TRUE(b.images.equal(open_npy(f("imgs_u8.npy"), f("labels_i64.npy"))->get_batch({0, 5}).images));
  // A directory without labels.npy is unlabelled too; with one, labelled.
  EXPECT_TRUE(open_npy(dir->file("dir"), "", "data.calib", true)->has_labels());
  EXPECT_TRUE(open_npy(f("imgs_u8.npy"), f("labels_i64.npy"), "data.calib", true)->has_labels());
  expect_input_error([&] { open_npy(f("imgs_u8.npy"), "", "data.train"); },
                     {"set data.train.labels", "only data.calib may be unlabelled"});
}

TEST_F(NpyData, Errors) {
  expect_input_error([&] { open_npy(f("imgs_u8.npy"), f("labels_short.npy")); },
                     {"6 images", "2 labels", f("labels_short.npy")});
  expect_input_error([&] { open_npy(f("imgs_u8.npy"), f("labels_float.npy")); }, {f("labels_float.npy"), "integer"});
  expect_input_error([&] { open_npy(f("imgs_2d.npy"), f("labels_i64.npy")); }, {f("imgs_2d.npy"), "N x C x H x W"});
  expect_input_error([&] { open_npy(f("imgs_u8.npy"), f("labels_neg.npy")); }, {"negative label"});
  expect_input_error([&] { open_npy(f("missing.npy"), f("labels_i64.npy")); }, {f("missing.npy"), "not found"});
  expect_input_error([&] { open_npy(f("imgs_u8.npy"), "", "data.calib"); }, {"set data.calib.labels to a .npy"});
  DatasetSpec spec;
  spec.kind = "npy";
  spec.path = f("imgs_u8.npy");
  spec.labels_path = f("nope.npy");
  spec.split = "test";
  expect_input_error([&] { make_dataset(spec); }, {f("nope.npy"), "(check data.test.labels)"});
}

}  // namespace
}  // namespace mc::data
