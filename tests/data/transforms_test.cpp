// Transforms: math, shapes and content, seeded randomness, and building from TransformSpec.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <set>

#include "data/transform_spec.h"
#include "data/transforms.h"
#include "data_test_util.h"

namespace mc::data {
namespace {

using test::expect_input_error;

at::Tensor ramp(int64_t c, int64_t h, int64_t w) {
  return at::arange(c * h * w, at::kFloat).reshape({c, h, w}) / static_cast<double>(c * h * w);
}

TEST(Normalize, PerChannelMath) {
  Normalize n({0.5, 0.25, 0.0}, {0.5, 2.0, 0.1});
  std::mt19937 rng(0);
  at::Tensor x = ramp(3, 4, 5);
  at::Tensor before = x.clone();
  at::Tensor y = n.apply(x, rng);
  EXPECT_TRUE(at::equal(x, before));  // input untouched
  EXPECT_TRUE(at::allclose(y[0], (x[0] - 0.5) / 0.5));
  EXPECT_TRUE(at::allclose(y[1], (x[1] - 0.25) / 2.0));
  EXPECT_TRUE(at::allclose(y[2], x[2] / 0.1));
  // Batched version agrees.
  at::Tensor yb = n.apply_batch(at::stack({x, x}), rng);
  EXPECT_TRUE(at::allclose(yb[1], y));
}

TEST(Normalize, SingleValueBroadcastsAndChannelMismatchFails) {
  Normalize one({0.2860}, {0.3530});
  std::mt19937 rng(0);
  at::Tensor x = ramp(3, 2, 2);
  EXPECT_TRUE(at::allclose(one.apply(x, rng), (x - 0.2860) / 0.3530));
  Normalize three({0.1, 0.2, 0.3}, {1, 1, 1});
  expect_input_error([&] { three.output_shape({1, 28, 28}); }, {"normalize", "3", "1 channel"});
  expect_input_error([&] { Normalize bad({0.1}, {0.0}); }, {"std"});
  expect_input_error([&] { Normalize bad({0.1, 0.2}, {1.0}); }, {"mean has 2"});
}

TEST(CenterCrop, ShapeAndContent) {
  CenterCrop crop(2, 3);
  std::mt19937 rng(0);
  at::Tensor x = ramp(2, 6, 7);
  at::Tensor y = crop.apply(x, rng);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_TRUE(at::equal(y, x.slice(1, 2, 4).slice(2, 2, 5)));
  EXPECT_EQ(crop.output_shape({2, 6, 7}), (std::vector<int64_t>{2, 2, 3}));
  // Smaller than the crop: zero-padded around the image.
  CenterCrop big(4, 4);
  at::Tensor small = at::ones({1, 2, 2});
  at::Tensor z = big.apply(small, rng);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{1, 4, 4}));
  EXPECT_FLOAT_EQ(z.sum().item<float>(), 4.0f);
  EXPECT_TRUE(at::equal(z[0].slice(0, 1, 3).slice(1, 1, 3), small[0]));
}

TEST(HorizontalFlip, IsAMirror) {
  std::mt19937 rng(0);
  at::Tensor x = ramp(3, 4, 5);
  HorizontalFlip always(1.0);
  at::Tensor y = always.apply(x, rng);
  auto a = x.accessor<float, 3>();
  auto b = y.accessor<float, 3>();
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 5; ++j) EXPECT_EQ(b[c][i][j], a[c][i][4 - j]);
  EXPECT_TRUE(at::equal(always.apply(y, rng), x));
  EXPECT_FALSE(always.is_random());
  EXPECT_TRUE(at::equal(HorizontalFlip(0.0).apply(x, rng), x));
  // p = 0.5: every output is either the image or its mirror, and both occur.
  HorizontalFlip half(0.5);
  EXPECT_TRUE(half.is_random());
  int flipped = 0;
  for (int k = 0; k < 200; ++k) {
    at::Tensor z = half.apply(x, rng);
    if (at::equal(z, y)) ++flipped;
    else EXPECT_TRUE(at::equal(z, x));
  }
  EXPECT_GT(flipped, 50);
  EXPECT_LT(flipped, 150);
  expect_input_error([&] { HorizontalFlip bad(1.5); }, {"p"});
}

TEST(Pad, ShapeBorderAndCenter) {
  Pad pad(2, 0.5);
  std::mt19937 rng(0);
  at::Tensor x = ramp(1, 3, 4);
  at::Tensor y = pad.apply(x, rng);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 7, 8}));
  EXPECT_TRUE(at::equal(y.slice(1, 2, 5).slice(2, 2, 6), x));
  EXPECT_FLOAT_EQ(y[0][0][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(y[0][6][7].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ((y.sum() - x.sum()).item<float>(), 0.5f * (56 - 12));
  EXPECT_EQ(pad.output_shape({1, 3, 4}), (std::vector<int64_t>{1, 7, 8}));
}

TEST(Resize, ConstantStaysConstantAndShapes) {
  std::mt19937 rng(0);
  at::Tensor x = at::full({3, 10, 14}, 0.3f);
  Resize exact(7, 21);
  at::Tensor y = exact.apply(x, rng);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{3, 7, 21}));
  EXPECT_TRUE(at::allclose(y, at::full_like(y, 0.3f), 0, 1e-6));
  Resize shorter(5);  // shorter side -> 5, keep aspect
  EXPECT_EQ(shorter.output_shape({3, 10, 14}), (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(shorter.apply(x, rng).sizes(), (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(shorter.output_shape({3, 20, 10}), (std::vector<int64_t>{3, 10, 5}));
  // Upsampling a 2-pixel ramp by 2 interpolates between the values.
  at::Tensor two = at::tensor({0.0f, 1.0f}).reshape({1, 1, 2});
  at::Tensor up = Resize(1, 4).apply(two, rng);
  EXPECT_TRUE(at::allclose(up, at::tensor({0.0f, 0.25f, 0.75f, 1.0f}).reshape({1, 1, 4})));
}

TEST(RandomCrop, SeededDeterminismAndContent) {
  RandomCrop crop(4, 4, /*padding=*/2);
  EXPECT_TRUE(crop.is_random());
  at::Tensor x = ramp(1, 6, 6) + 0.01;  // no zeros inside the image
  std::mt19937 a(123), b(123), c(7);
  std::vector<at::Tensor> ra, rb, rc;
  for (int k = 0; k < 20; ++k) {
    ra.push_back(crop.apply(x, a));
    rb.push_back(crop.apply(x, b));
    rc.push_back(crop.apply(x, c));
  }
  bool any_diff = false;
  std::set<std::pair<int64_t, int64_t>> positions;
  at::Tensor padded = at::constant_pad_nd(x, {2, 2, 2, 2}, 0.0);
  for (int k = 0; k < 20; ++k) {
    EXPECT_TRUE(at::equal(ra[k], rb[k]));
    any_diff |= !at::equal(ra[k], rc[k]);
    ASSERT_EQ(ra[k].sizes(), (std::vector<int64_t>{1, 4, 4}));
    // The crop is a window of the padded image.
    bool found = false;
    for (int64_t t = 0; t <= 6 && !found; ++t)
      for (int64_t l = 0; l <= 6 && !found; ++l)
        if (at::equal(padded.slice(1, t, t + 4).slice(2, l, l + 4), ra[k])) {
          found = true;
          positions.insert({t, l});
        }
    EXPECT_TRUE(found);
  }
  EXPECT_TRUE(any_diff);
  EXPECT_GT(positions.size(), 3u);
  expect_input_error([&] { RandomCrop(10, 10).output_shape({1, 6, 6}); }, {"larger than the image"});
}

TEST(TransformSpec, BuildsComposeInOrder) {
  std::vector<TransformSpec> specs(4);
  specs[0].type = "pad";
  specs[0].padding = 2;
  specs[1].type = "random_crop";
  specs[1].size = {28};
  specs[2].type = "horizontal_flip";
  specs[3].type = "normalize";
  specs[3].mean = {0.2860};
  specs[3].std = {0.3530};
  auto c = make_transforms(specs);
  ASSERT_EQ(c->transforms().size(), 4u);
  EXPECT_TRUE(c->is_random());
  EXPECT_EQ(c->output_shape({1, 28, 28}), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_NE(c->describe().find("normalize"), std::string::npos);
  std::mt19937 r1(5), r2(5);
  at::Tensor x = ramp(1, 28, 28);
  EXPECT_TRUE(at::equal(c->apply(x, r1), c->apply(x, r2)));

  std::vector<TransformSpec> det(2);
  det[0].type = "resize";
  det[0].size = {32, 30};
  det[1].type = "center_crop";
  det[1].size = {24};
  auto d = make_transforms(det);
  EXPECT_FALSE(d->is_random());
  EXPECT_EQ(d->output_shape({3, 10, 10}), (std::vector<int64_t>{3, 24, 24}));
  EXPECT_TRUE(make_transforms({})->empty());
}

TEST(TransformSpec, ErrorsNameTheEntry) {
  std::vector<TransformSpec> specs(2);
  specs[0].type = "pad";
  specs[1].type = "rotate";
  expect_input_error([&] { make_transforms(specs, "data.train.transforms"); },
                     {"data.train.transforms[1]", "rotate", "normalize"});
  specs[1].type = "normalize";
  specs[1].mean = {0.5};
  specs[1].std = {0.0};
  expect_input_error([&] { make_transforms(specs, "data.train.transforms"); }, {"data.train.transforms[1]", "std"});
  specs[1].type = "center_crop";
  specs[1].size = {1, 2, 3};
  expect_input_error([&] { make_transforms(specs); }, {"transforms[1]", "size"});
  specs[1].type = "resize";
  specs[1].size = {};
  expect_input_error([&] { make_transforms(specs); }, {"transforms[1]", "size"});
  specs[0].padding = -1;
  expect_input_error([&] { make_transforms(specs); }, {"transforms[0]", "padding"});
}


// The batched paths draw the same random numbers in the same order as apply() on each sample in
// turn, so they must give exactly the same images (any dtype: the loader crops raw bytes).
TEST(RandomCrop, BatchEqualsPerSampleForFloatAndBytes) {
  RandomCrop crop(5, 4, /*padding=*/2, /*fill=*/3.0);
  at::Tensor xf = at::rand({9, 2, 6, 7});
  for (const at::Tensor& x : {xf, (xf * 255).to(at::kByte)}) {
    std::mt19937 a(42), b(42);
    at::Tensor batch = crop.apply_batch(x.clone(), a);
    std::vector<at::Tensor> each;
    for (int64_t k = 0; k < x.size(0); ++k) each.push_back(crop.apply(x[k], b));
    EXPECT_EQ(batch.scalar_type(), x.scalar_type());
    EXPECT_TRUE(at::equal(batch, at::stack(each)));
  }
}

TEST(HorizontalFlip, BatchEqualsPerSampleForFloatAndBytes) {
  HorizontalFlip coin(0.5);
  at::Tensor xf = at::rand({16, 3, 4, 5});
  for (const at::Tensor& x : {xf, (xf * 255).to(at::kByte), xf.to(at::kDouble)}) {
    std::mt19937 a(5), b(5);
    at::Tensor batch = coin.apply_batch(x.clone(), a);
    std::vector<at::Tensor> each;
    int flipped = 0;
    for (int64_t k = 0; k < x.size(0); ++k) {
      each.push_back(coin.apply(x[k], b));
      flipped += !at::equal(each.back(), x[k]);
    }
    EXPECT_TRUE(at::equal(batch, at::stack(each)));
    EXPECT_GT(flipped, 0);
    EXPECT_LT(flipped, 16);
  }
}

}  // namespace
}  // namespace mc::data
