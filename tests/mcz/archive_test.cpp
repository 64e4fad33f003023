// The .mcz archive on real models: unpack(pack(m)) gives the same tensors bit for bit and the same
// outputs, the size reported is the file's size, and the weights get smaller where Deep
// Compression says they should (pruned + few values), while dense fp32 models stay exact.
#include <gtest/gtest.h>

#include <filesystem>

#include "ir/mcz/archive.h"
#include "ir/mcz/weight_codec.h"
#include "mcz/compressed_model.h"
#include "runtime/executor.h"
#include "support/test_env.h"

namespace mc {
namespace {

using ir::mcz::PackResult;

void expect_same_model(ir::Model& a, ir::Model& b) {
  EXPECT_EQ(a.graph.to_string(), b.graph.to_string());
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.preprocessing, b.preprocessing);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (auto& [k, t] : a.tensors) EXPECT_TRUE(test::bit_identical(t, b.tensors.at(k))) << k;
  at::Tensor x = at::randn({8, 1, 28, 28}, at::TensorOptions().dtype(at::kFloat));
  runtime::Executor ea(a), eb(b);
  EXPECT_TRUE(test::bit_identical(ea.run1(x), eb.run1(x)));
}

const ir::mcz::WeightStats& layer(const PackResult& r, const std::string& tensor) {
  for (const auto& l : r.layers)
    if (l.tensor == tensor) return l;
  throw std::runtime_error("no layer " + tensor);
}

TEST(Mcz, PrunedRoundedResnet8RoundTripsBitForBit) {
  test::TempDir d;
  ir::Model m = test::compressed_zoo("resnet8", 0.9, 16);
  m.preprocessing = R"({"from": "test", "transform": []})";
  PackResult r = ir::mcz::save_mcz(m, d.file("r.mcz"));
  ir::Model back = ir::mcz::load_mcz(d.file("r.mcz"));
  expect_same_model(m, back);
  EXPECT_EQ(r.file_bytes, std::filesystem::file_size(d.file("r.mcz")));
  const auto& conv = layer(r, "layer2.0.conv1.weight");
  EXPECT_EQ(conv.encoding, "codebook");
  EXPECT_EQ(conv.position_bits, 8);  // the default
  EXPECT_EQ(conv.distinct, 16);
  // 16 values and no filler: with 8-bit gaps at 10 % density a run of 255 zeros has probability
  // 0.9^255 ~ 2e-12 (at 4 bits fillers add the zero as a 17th entry: 5 bits)
  EXPECT_EQ(conv.index_bits, 4);
  EXPECT_NEAR(static_cast<double>(conv.nonzeros) / conv.weights, 0.1, 0.01);
  EXPECT_EQ(layer(r, "fc.weight").position_bits, 8);
  EXPECT_GT(conv.ratio(), 20.0);  // 4 + 8 bits per entry before Huffman: ~32 / (0.1 x 12)
  EXPECT_GT(r.ratio(), 15.0);
  std::printf("resnet8 90%% pruned, 16 values: %llu bytes, fp32 %llu, ratio %.2fx\n",
              static_cast<unsigned long long>(r.file_bytes), static_cast<unsigned long long>(r.fp32_bytes), r.ratio());
}

TEST(Mcz, PrunedRoundedLenet300RoundTripsBitForBit) {
  test::TempDir d;
  ir::Model m = test::compressed_zoo("lenet300_100", 0.92, 32);
  PackResult r = ir::mcz::save_mcz(m, d.file("l.mcz"));
  ir::Model back = ir::mcz::load_mcz(d.file("l.mcz"));
  expect_same_model(m, back);
  EXPECT_EQ(r.file_bytes, std::filesystem::file_size(d.file("l.mcz")));
  EXPECT_EQ(layer(r, "fc1.weight").encoding, "codebook");
  EXPECT_GT(r.ratio(), 25.0);
  std::printf("lenet300_100 92%% pruned, 32 values: %llu bytes, fp32 %llu, ratio %.2fx\n",
              static_cast<unsigned long long>(r.file_bytes), static_cast<unsigned long long>(r.fp32_bytes), r.ratio());
}

TEST(Mcz, DenseFp32ModelRoundTripsExactly) {
  test::TempDir d;
  frontend::ZooOptions o;
  ir::Model m = frontend::build_zoo("lenet300_100", o);
  PackResult r = ir::mcz::save_mcz(m, d.file("l.mcz"));
  ir::Model back = ir::mcz::load_mcz(d.file("l.mcz"));
  expect_same_model(m, back);
  for (const auto& l : r.layers) EXPECT_EQ(l.encoding, "dense") << l.tensor;  // nothing to gain
  EXPECT_LT(r.file_bytes, r.fp32_bytes + 8192);  // the .mcm records plus the archive's header
}

TEST(Mcz, PrunedButUnclusteredWeightsAreStoredSparse) {
  test::TempDir d;
  frontend::ZooOptions o;
  ir::Model m = frontend::build_zoo("lenet300_100", o);
  at::Tensor w = m.tensors.at("fc1.weight");
  w.masked_fill_(w.abs() < std::get<0>(w.abs().flatten().kthvalue(w.numel() * 95 / 100)), 0.0f);
  m.tensors["fc1.weight"] = w;
  PackResult r = ir::mcz::save_mcz(m, d.file("s.mcz"));
  EXPECT_EQ(layer(r, "fc1.weight").encoding, "sparse");
  EXPECT_GT(layer(r, "fc1.weight").distinct, 256);
  ir::Model back = ir::mcz::load_mcz(d.file("s.mcz"));
  expect_same_model(m, back);
}

// Values are bit patterns: -0.0 is a non-zero entry, NaN payloads and denormals survive.
TEST(MczWeightCodec, OddFloatsComeBackBitForBit) {
  at::Tensor t = at::zeros({4, 40}, at::kFloat);
  auto* p = t.data_ptr<float>();
  p[3] = -0.0f;
  p[50] = std::numeric_limits<float>::quiet_NaN();
  p[51] = std::numeric_limits<float>::denorm_min();
  p[159] = 1.5f;
  for (int bits : {1, 4, 8}) {
    ir::mcz::WeightStats st;
    auto payload = ir::mcz::encode_weight(t, bits, st);
    ASSERT_TRUE(payload.has_value()) << bits;
    EXPECT_EQ(st.nonzeros, 3);
    EXPECT_EQ(st.distinct, 3);
    EXPECT_EQ(st.negative_zeros, 1);
    at::Tensor back;
    std::string why;
    ASSERT_TRUE(ir::mcz::decode_weight(*payload, back, why)) << why;
    EXPECT_TRUE(test::bit_identical(t, back)) << bits;
  }
}

// Pruning by multiplying with a mask leaves -0.0 wherever it zeroed a negative weight: they come
// back as -0.0, for at most about one bit per zero (the entropy of a random sign), whether they are
// many (sign bitmap) or few (relative-index list).
TEST(MczWeightCodec, NegativeZerosFromMaskedPruningAreCheap) {
  at::manual_seed(1);
  at::Tensor w = at::randn({64, 64, 3, 3});
  at::Tensor mask = (w.abs() > 1.6).to(at::kFloat);  // keeps ~11 %
  at::Tensor q = (w * 8).round() / 8;              // few values
  at::Tensor multiplied = q * mask, filled = q.masked_fill(mask == 0, 0.0f);
  ASSERT_GT((multiplied.view(at::kInt) == static_cast<int32_t>(0x80000000u)).sum().item<int64_t>(), 10000);
  ir::mcz::WeightStats a, b;
  auto pa = ir::mcz::encode_weight(multiplied, 4, a), pb = ir::mcz::encode_weight(filled, 4, b);
  ASSERT_TRUE(pa && pb);
  EXPECT_EQ(a.nonzeros, b.nonzeros);
  EXPECT_EQ(a.distinct, b.distinct);
  EXPECT_GT(a.negative_zeros, 10000);
  EXPECT_EQ(a.encoding, "codebook");
  const int64_t zeros = w.numel() - a.nonzeros;
  EXPECT_LE(static_cast<int64_t>(pa->size() - pb->size()), zeros / 8 + 64);
  std::printf("-0.0 masked: %zu bytes, +0.0 filled: %zu bytes, fp32 %lld\n", pa->size(), pb->size(),
              static_cast<long long>(w.numel() * 4));
  at::Tensor back;
  std::string why;
  ASSERT_TRUE(ir::mcz::decode_weight(*pa, back, why)) << why;
  EXPECT_TRUE(test::bit_identical(multiplied, back));
  at::Tensor few = filled.clone();  // a handful of -0.0s: the list is smaller than the bitmap
  few.view({-1}).index_put_({at::arange(0, 36864, 4096)}, at::full({9}, -0.0f));
  ir::mcz::WeightStats c;
  auto pc = ir::mcz::encode_weight(few, 4, c);
  ASSERT_TRUE(pc.has_value());
  EXPECT_EQ(c.negative_zeros, 9);
  EXPECT_LT(pc->size(), pb->size() + 100);  // ~150 8-bit gaps (fillers), Huffman coded
  ASSERT_TRUE(ir::mcz::decode_weight(*pc, back, why)) << why;
  EXPECT_TRUE(test::bit_identical(few, back));
}

TEST(MczWeightCodec, CornerCasesRoundTrip) {
  std::vector<at::Tensor> cases{at::zeros({64, 64}, at::kFloat), at::zeros({0, 3}, at::kFloat),
                                at::full({16, 16}, 0.25f), at::arange(256, at::kFloat).reshape({16, 16}) + 1,
                                at::arange(257, at::kFloat) + 1};
  // 256 distinct non-zeros and gaps that need fillers: 257 codebook entries, so fp32 values
  at::Tensor wide = at::zeros({256 * 40}, at::kFloat);
  wide.index_put_({at::arange(0, 256 * 40, 40)}, at::arange(256, at::kFloat) + 1);
  cases.push_back(wide);
  for (auto& t : cases) {
    ir::mcz::WeightStats st;
    auto payload = ir::mcz::encode_weight(t, 4, st);
    if (!payload) continue;  // dense is smaller: stays as in .mcm
    at::Tensor back;
    std::string why;
    ASSERT_TRUE(ir::mcz::decode_weight(*payload, back, why)) << why;
    EXPECT_TRUE(test::bit_identical(t, back)) << st.encoding << " " << t.sizes();
  }
  ir::mcz::WeightStats st;
  ASSERT_TRUE(ir::mcz::encode_weight(wide, 4, st).has_value());
  EXPECT_EQ(st.encoding, "sparse");
  ASSERT_TRUE(ir::mcz::encode_weight(at::zeros({64, 64}, at::kFloat), 4, st).has_value());
  EXPECT_EQ(st.encoding, "codebook");
  EXPECT_FALSE(ir::mcz::encode_weight(at::zeros({8, 8}, at::kDouble), 4, st).has_value());
}

}  // namespace
}  // namespace mc
