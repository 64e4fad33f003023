// Token datasets for text models (data/token_dataset.h): npy token sequences (one N x T file per
// model input) and seeded random_tokens, through make_dataset and the DataLoader.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "data/factory.h"
#include "data/npy.h"
#include "data/token_dataset.h"
#include "data/transform_spec.h"
#include "data_test_util.h"
#include "support/test_env.h"

namespace mc::data {
namespace {

using test::expect_input_error;

RandomTokensSpec tokens(int64_t n, int64_t t, int64_t vocab, int64_t min_len, bool mask, uint64_t seed = 7) {
  RandomTokensSpec s;
  s.sequences = n;
  s.seq_len = t;
  s.vocab = vocab;
  s.min_len = min_len;
  s.mask = mask;
  s.seed = seed;
  return s;
}

TEST(TokenData, NpyInputsBatchAsInt64WithEveryInputAndLabels) {
  mc::test::TempDir dir;
  at::Tensor ids = at::arange(5 * 4, at::kInt).reshape({5, 4});  // int32 on disk: stored as int64
  at::Tensor mask = at::ones({5, 4}, at::kBool);
  mask[3][3] = false;
  write_npy(dir.file("ids.npy"), ids);
  write_npy(dir.file("mask.npy"), mask);
  write_npy(dir.file("y.npy"), at::tensor({0, 2, 1, 1, 0}, at::kLong));
  DatasetSpec spec;
  spec.kind = "npy";
  spec.input_paths = {dir.file("ids.npy"), dir.file("mask.npy")};
  spec.labels_path = dir.file("y.npy");
  auto ds = make_dataset(spec);
  EXPECT_EQ(ds->size(), 5u);
  EXPECT_EQ(ds->num_inputs(), 2u);
  EXPECT_FALSE(ds->float_samples());
  EXPECT_EQ(ds->num_classes(), 3);
  EXPECT_EQ(ds->sample_shape(), std::vector<int64_t>({4}));
  DataLoader loader(ds, test::loader_options(2, 1));
  std::vector<Batch> batches(loader.begin(), loader.end());
  ASSERT_EQ(batches.size(), 3u);
  const Batch& b = batches[1];  // rows 2 and 3
  ASSERT_EQ(b.inputs().size(), 2u);
  EXPECT_EQ(b.images.scalar_type(), at::kLong);
  EXPECT_EQ(b.more_inputs[0].scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(b.images, ids.slice(0, 2, 4).to(at::kLong)));
  EXPECT_TRUE(at::equal(b.more_inputs[0], mask.slice(0, 2, 4).to(at::kLong)));
  EXPECT_TRUE(at::equal(b.labels, at::tensor({1, 1}, at::kLong)));
  EXPECT_EQ(b.more_inputs[0][1][3].item<int64_t>(), 0);
  // A calibration subset keeps both inputs of the rows it draws.
  auto sub = calib_subset(ds, 3, 11);
  Batch s = sub->get_batch({0, 1, 2});
  ASSERT_EQ(s.more_inputs.size(), 1u);
  for (int64_t k = 0; k < 3; ++k) {
    const int64_t row = s.images[k][0].item<int64_t>() / 4;
    EXPECT_TRUE(at::equal(s.more_inputs[0][k], mask[row].to(at::kLong)));
  }
}

TEST(TokenData, NpyInputErrorsNameTheFileAndKey) {
  mc::test::TempDir dir;
  write_npy(dir.file("ids.npy"), at::zeros({5, 4}, at::kLong));
  write_npy(dir.file("short.npy"), at::zeros({3, 4}, at::kLong));
  write_npy(dir.file("float.npy"), at::zeros({5, 4}, at::kFloat));
  DatasetSpec spec;
  spec.kind = "npy";
  spec.config_key = "data.calib";
  spec.labels_optional = true;
  spec.input_paths = {dir.file("ids.npy"), dir.file("short.npy")};
  expect_input_error([&] { make_dataset(spec); }, {"short.npy has 3 rows", "ids.npy has 5"});
  spec.input_paths = {dir.file("float.npy")};
  expect_input_error([&] { make_dataset(spec); }, {"float.npy", "Float", "N x T integers"});
  spec.input_paths = {dir.file("missing.npy")};
  expect_input_error([&] { make_dataset(spec); }, {"missing.npy not found", "data.calib.inputs"});
  spec.input_paths = {dir.file("ids.npy")};
  spec.path = dir.file("ids.npy");
  expect_input_error([&] { make_dataset(spec); }, {"both path (images) and inputs"});
  spec.path.clear();
  spec.labels_optional = false;
  expect_input_error([&] { make_dataset(spec); }, {"no labels file", "data.calib.labels"});
}

TEST(TokenData, RandomTokensAreSeededPaddedAndMasked) {
  auto a = make_random_tokens(tokens(300, 16, 50, 4, true), "data.calib");
  auto b = make_random_tokens(tokens(300, 16, 50, 4, true), "data.calib");
  auto c = make_random_tokens(tokens(300, 16, 50, 4, true, 8), "data.calib");
  ASSERT_EQ(a->num_inputs(), 2u);
  const at::Tensor& ids = a->inputs()[0];
  const at::Tensor& mask = a->inputs()[1];
  EXPECT_TRUE(at::equal(ids, b->inputs()[0]));
  EXPECT_FALSE(at::equal(ids, c->inputs()[0]));
  EXPECT_EQ(ids.sizes(), at::IntArrayRef({300, 16}));
  EXPECT_GE(ids.min().item<int64_t>(), 0);
  EXPECT_EQ(ids.max().item<int64_t>(), 49);  // 300 x >= 4 draws of 50 ids reach the top one
  // The mask is a prefix of ones per row (length in [4, 16], every length drawn), the padding pad_id 0.
  at::Tensor len = mask.sum(1);
  EXPECT_EQ(len.min().item<int64_t>(), 4);
  EXPECT_EQ(len.max().item<int64_t>(), 16);
  EXPECT_EQ(std::get<0>(at::_unique(len)).numel(), 13);
  at::Tensor prefix = at::arange(16, at::kLong).unsqueeze(0).lt(len.unsqueeze(1)).to(at::kLong);
  EXPECT_TRUE(at::equal(mask, prefix));
  EXPECT_EQ(ids.masked_select(mask.eq(0)).ne(0).sum().item<int64_t>(), 0);
  // Without a mask: one input; min_len 0 means no padding.
  auto full = make_random_tokens(tokens(10, 8, 50, 0, false), "data.calib");
  EXPECT_EQ(full->num_inputs(), 1u);
  EXPECT_EQ(full->sample_shape(), std::vector<int64_t>({8}));
}

TEST(TokenData, RandomTokensRefuseBadFieldsAndLabelledUse) {
  expect_input_error([] { make_random_tokens(tokens(10, 8, 0, 0, false), "data.calib"); }, {"data.calib.vocab must be >= 1"});
  expect_input_error([] { make_random_tokens(tokens(10, 8, 50, 9, false), "data.calib"); },
                     {"data.calib.min_len must be in [1, seq_len = 8]", "got 9"});
  expect_input_error([] { make_random_tokens(tokens(10, 0, 50, 0, false), "data.calib"); }, {"data.calib.seq_len"});
  RandomTokensSpec pad = tokens(10, 8, 50, 0, false);
  pad.pad_id = 50;
  expect_input_error([&] { make_random_tokens(pad, "data.calib"); }, {"data.calib.pad_id must be in [0, vocab = 50)"});
  DatasetSpec spec;
  spec.kind = "random_tokens";
  spec.config_key = "data.val";
  spec.tokens = tokens(10, 8, 50, 0, false);
  expect_input_error([&] { make_dataset(spec); }, {"no labels", "data.calib only"});
  spec.labels_optional = true;
  EXPECT_EQ(make_dataset(spec)->size(), 10u);
}

TEST(TokenData, TransformsOnTokensAreAnError) {
  auto ds = make_random_tokens(tokens(10, 8, 50, 0, true), "data.calib");
  TransformSpec norm;
  norm.type = "normalize";
  norm.mean = {0.5};
  norm.std = {0.5};
  expect_input_error([&] { DataLoader l(ds, test::loader_options(4, 0, make_transforms({norm}, "data.calib.transform"))); },
                     {"token sequences", "remove the split's transform"});
  // An empty transform list (a split without `transform:`) is no transform.
  DataLoader l(ds, test::loader_options(4, 0, make_transforms({}, "data.calib.transform")));
  Batch b;
  ASSERT_TRUE(l.next(b));
  EXPECT_EQ(b.images.scalar_type(), at::kLong);
}

}  // namespace
}  // namespace mc::data
