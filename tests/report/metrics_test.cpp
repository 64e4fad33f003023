// measure(): counts, bytes, MACs, per-layer rows and latency on a tiny model with known numbers.
#include <gtest/gtest.h>

#include "common/error.h"
#include "ir/op_registry.h"
#include "report/metrics.h"
#include "report/tiny_model.h"

namespace mc::report {
namespace {

using testing::kTinyConstants;
using testing::kTinyMacs;
using testing::kTinyParams;
using testing::make_tiny_model;

MeasureOptions counts_only() {
  MeasureOptions o;
  o.latency = false;
  return o;
}

const LayerRow* find_layer(const Metrics& m, const std::string& scope) {
  for (const LayerRow& r : m.layers)
    if (r.scope == scope) return &r;
  return nullptr;
}

TEST(Metrics, ParamsAndNonzero) {
  ir::Model model = make_tiny_model();
  Metrics m = measure(model, counts_only());
  EXPECT_EQ(m.params, kTinyParams);
  EXPECT_EQ(m.params, model.num_params());
  EXPECT_EQ(m.nonzero_params, kTinyParams);
  EXPECT_DOUBLE_EQ(m.sparsity(), 0.0);
  EXPECT_FALSE(m.top1.has_value());
  EXPECT_FALSE(m.top5.has_value());
  EXPECT_FALSE(m.loss.has_value());

  // Zero the first output channel of the conv (27 weights) and half of the fc weights (90).
  model.tensors["conv.weight"][0].zero_();
  model.tensors["fc.weight"].narrow(1, 0, 18).zero_();
  m = measure(model, counts_only());
  EXPECT_EQ(m.params, kTinyParams);
  EXPECT_EQ(m.nonzero_params, kTinyParams - 27 - 90);
  EXPECT_EQ(m.nonzero_params, model.num_nonzero_params());
  EXPECT_DOUBLE_EQ(m.sparsity(), 117.0 / 305.0);

  const LayerRow* conv = find_layer(m, "conv");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->params, 108 + 4);
  EXPECT_EQ(conv->nonzero_params, 108 + 4 - 27);
  const LayerRow* fc = find_layer(m, "fc");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->params, 180 + 5);
  EXPECT_EQ(fc->nonzero_params, 180 + 5 - 90);
}

TEST(Metrics, MacsAreTheSumOfNodeMacs) {
  ir::Model model = make_tiny_model();
  Metrics m = measure(model, counts_only());
  int64_t sum = 0;
  for (const ir::Node* n : model.graph.nodes()) sum += ir::node_macs(*n);
  EXPECT_EQ(m.macs, sum);
  EXPECT_EQ(m.macs, kTinyMacs);
  int64_t layer_sum = 0;
  for (const LayerRow& r : m.layers) layer_sum += r.macs;
  EXPECT_EQ(layer_sum, m.macs);
  EXPECT_EQ(find_layer(m, "conv")->macs, 4 * 6 * 6 * 27);
  EXPECT_EQ(find_layer(m, "fc")->macs, 5 * 36);
}

TEST(Metrics, LayerRows) {
  ir::Model model = make_tiny_model();
  Metrics m = measure(model, counts_only());
  // conv, bn, pool (has MACs), fc; relu and flatten have neither params nor MACs.
  ASSERT_EQ(m.layers.size(), 4u);
  EXPECT_EQ(m.layers[0].scope, "conv");
  EXPECT_EQ(m.layers[0].op, "conv2d");
  EXPECT_EQ(m.layers[0].output_shape, (std::vector<int64_t>{1, 4, 6, 6}));
  EXPECT_EQ(m.layers[1].scope, "bn");
  EXPECT_EQ(m.layers[1].op, "batch_norm");
  EXPECT_EQ(m.layers[1].params, 8);  // weight + bias; running statistics are constants
  EXPECT_EQ(m.layers[2].scope, "pool");
  EXPECT_EQ(m.layers[2].params, 0);
  EXPECT_EQ(m.layers[3].scope, "fc");
  EXPECT_EQ(m.layers[3].op, "linear");
  EXPECT_EQ(m.layers[3].output_shape, (std::vector<int64_t>{1, 5}));
  for (const LayerRow& r : m.layers) EXPECT_EQ(r.bits, 32);

  MeasureOptions o = counts_only();
  o.per_layer = false;
  EXPECT_TRUE(measure(model, o).layers.empty());
}

TEST(Metrics, BytesFp32CountsEveryTensor) {
  ir::Model model = make_tiny_model();
  Metrics m = measure(model, counts_only());
  int64_t elements = 0;
  for (auto& [name, t] : model.tensors) elements += t.numel();
  EXPECT_EQ(elements, kTinyParams + kTinyConstants);
  EXPECT_EQ(m.bytes_fp32, 4 * elements);
  EXPECT_EQ(m.bytes_stored, m.bytes_fp32);  // no storage bits: everything as fp32
  ASSERT_TRUE(m.compression_ratio().has_value());
  EXPECT_DOUBLE_EQ(*m.compression_ratio(), 1.0);
}

TEST(Metrics, BytesStoredFollowsStorageBits) {
  ir::Model model = make_tiny_model();
  MeasureOptions o = counts_only();
  o.storage_bits = {{"fc.weight", 8}};
  Metrics m = measure(model, o);
  EXPECT_EQ(m.bytes_fp32, 4 * (kTinyParams + kTinyConstants));
  EXPECT_EQ(m.bytes_stored, m.bytes_fp32 - 4 * 180 + 180);
  EXPECT_EQ(find_layer(m, "fc")->bits, 8);   // the layer's largest param tensor
  EXPECT_EQ(find_layer(m, "conv")->bits, 32);

  // Sub-byte widths round up to whole bytes: 108 weights at 4 bits = 54 bytes, 4 at 3 bits = 2.
  o.storage_bits = {{"conv.weight", 4}, {"conv.bias", 3}};
  m = measure(model, o);
  EXPECT_EQ(m.bytes_stored, m.bytes_fp32 - 4 * 108 + 54 - 4 * 4 + 2);
  EXPECT_DOUBLE_EQ(*m.compression_ratio(), static_cast<double>(m.bytes_fp32) / m.bytes_stored);
}

TEST(Metrics, StorageBitsErrors) {
  ir::Model model = make_tiny_model();
  MeasureOptions o = counts_only();
  o.storage_bits = {{"fc.wieght", 8}};
  EXPECT_THROW(measure(model, o), InputError);
  o.storage_bits = {{"fc.weight", 0}};
  EXPECT_THROW(measure(model, o), InputError);
  o.storage_bits = {{"fc.weight", 65}};
  EXPECT_THROW(measure(model, o), InputError);
}

TEST(Metrics, LatencyPerBatch) {
  ir::Model model = make_tiny_model();
  MeasureOptions o;
  o.latency_batches = {1, 4};
  o.repeats = 3;
  o.warmup = 1;
  Metrics m = measure(model, o);
  ASSERT_EQ(m.latency_ms.size(), 2u);
  ASSERT_TRUE(m.latency_ms.count(1));
  ASSERT_TRUE(m.latency_ms.count(4));
  EXPECT_GT(m.latency_ms.at(1), 0.0);
  EXPECT_GT(m.latency_ms.at(4), 0.0);
  // Latency runs do not change the model or the counts.
  EXPECT_EQ(m.params, kTinyParams);
  EXPECT_EQ(m.macs, kTinyMacs);

  o.repeats = 0;
  EXPECT_THROW(measure(model, o), InputError);
  o.repeats = 1;
  o.latency_batches = {0};
  EXPECT_THROW(measure(model, o), InputError);
}

TEST(Metrics, StorageBytes) {
  EXPECT_EQ(storage_bytes(10, 32), 40);
  EXPECT_EQ(storage_bytes(10, 8), 10);
  EXPECT_EQ(storage_bytes(10, 4), 5);
  EXPECT_EQ(storage_bytes(3, 1), 1);
  EXPECT_EQ(storage_bytes(0, 8), 0);
}

TEST(Metrics, HumanBytes) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1024), "1.00 KiB");
  EXPECT_EQ(human_bytes(1536), "1.50 KiB");
  EXPECT_EQ(human_bytes(1252), "1.22 KiB");
  EXPECT_EQ(human_bytes(46827520), "44.7 MiB");
  EXPECT_EQ(human_bytes(1048000), "1.00 MiB");  // 1023.4 KiB rounds into the next unit
  EXPECT_EQ(human_bytes(3LL << 30), "3.00 GiB");
}

TEST(Metrics, HumanCount) {
  EXPECT_EQ(human_count(0), "0");
  EXPECT_EQ(human_count(999), "999");
  EXPECT_EQ(human_count(1234), "1.23K");
  EXPECT_EQ(human_count(61706), "61.7K");
  EXPECT_EQ(human_count(999999), "1.00M");
  EXPECT_EQ(human_count(11689512), "11.7M");
  EXPECT_EQ(human_count(1819066368), "1.82G");
  EXPECT_EQ(human_count(-1500), "-1.50K");
}

}  // namespace
}  // namespace mc::report
