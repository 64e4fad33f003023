// TensorRT rules checker (export/tensorrt_check.h) on hand-made QDQ graphs that break one rule each,
// on our own QDQ exports, and through `compress check-tensorrt` and the check_tensorrt stage.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "export/export_context.h"
#include "export/onnx_export.h"
#include "export/tensorrt_check.h"
#include "export/export_test_util.h"
#include "export/quant_test_util.h"

namespace mc {
namespace {

// A tiny QDQ graph builder: x[1,4,6,6] -> Q/DQ -> Conv(DQ(int8 weight)) -> [residual Add] -> y.
struct Qdq {
  int32_t act_type = onnx::TensorProto_DataType_INT8;
  int act_zp = 0;
  bool act_per_channel = false;
  bool quantize_input = true;
  bool weight_per_channel = true;
  int64_t weight_axis = 0;
  int weight_zp = 0;
  float weight_scale = 0.02f;
  bool residual = false;          // y = conv(x) + x
  bool quantize_residual = true;  // the skip input of the Add gets its own Q/DQ
};

void add_init(onnx::GraphProto& g, const std::string& name, int32_t type, std::vector<int64_t> dims,
              const std::string& raw) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(raw);
}

template <typename T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

onnx::NodeProto* add_node(onnx::GraphProto& g, const std::string& op, const std::string& name,
                          std::vector<std::string> in, std::vector<std::string> out, int64_t axis = -100) {
  auto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (auto& s : in) n->add_input(s);
  for (auto& s : out) n->add_output(s);
  if (axis != -100) {
    auto* a = n->add_attribute();
    a->set_name("axis");
    a->set_type(onnx::AttributeProto_AttributeType_INT);
    a->set_i(axis);
  }
  return n;
}

onnx::ModelProto build(const Qdq& c) {
  onnx::ModelProto mp;
  mp.set_ir_version(7);
  mp.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *mp.mutable_graph();
  g.set_name("qdq");
  auto* in = g.add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  for (int64_t d : {1, 4, 6, 6}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  auto act_qdq = [&](const std::string& x, const std::string& tag) {
    const bool u8 = c.act_type == onnx::TensorProto_DataType_UINT8;
    if (c.act_per_channel) {
      add_init(g, tag + "_s", onnx::TensorProto_DataType_FLOAT, {4}, raw(std::vector<float>(4, 0.05f)));
      add_init(g, tag + "_z", c.act_type, {4}, std::string(4, static_cast<char>(c.act_zp)));
    } else {
      add_init(g, tag + "_s", onnx::TensorProto_DataType_FLOAT, {}, raw(std::vector<float>{0.05f}));
      add_init(g, tag + "_z", c.act_type, {}, std::string(1, static_cast<char>(u8 ? c.act_zp : c.act_zp)));
    }
    int64_t axis = c.act_per_channel ? 1 : -100;
    add_node(g, "QuantizeLinear", tag + "/Q", {x, tag + "_s", tag + "_z"}, {tag + "_q"}, axis);
    add_node(g, "DequantizeLinear", tag + "/DQ", {tag + "_q", tag + "_s", tag + "_z"}, {tag + "_dq"}, axis);
    return tag + "_dq";
  };
  std::string x = c.quantize_input ? act_qdq("x", "conv_in") : std::string("x");
  std::vector<int8_t> w(4 * 4 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(static_cast<int>(i % 17) - 8);
  add_init(g, "w_q", onnx::TensorProto_DataType_INT8, {4, 4, 3, 3}, raw(w));
  const int64_t nch = c.weight_per_channel ? 4 : 1;
  std::vector<int64_t> qdims = c.weight_per_channel ? std::vector<int64_t>{4} : std::vector<int64_t>{};
  add_init(g, "w_s", onnx::TensorProto_DataType_FLOAT, qdims, raw(std::vector<float>(static_cast<size_t>(nch), c.weight_scale)));
  add_init(g, "w_z", onnx::TensorProto_DataType_INT8, qdims, std::string(static_cast<size_t>(nch), static_cast<char>(c.weight_zp)));
  add_node(g, "DequantizeLinear", "conv/w_DQ", {"w_q", "w_s", "w_z"}, {"w"}, c.weight_per_channel ? c.weight_axis : -100);
  auto* conv = add_node(g, "Conv", "layer1.conv", {x, "w"}, {"y0"});
  auto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto_AttributeType_INTS);
  for (int k = 0; k < 4; ++k) pads->add_ints(1);
  std::string y = "y0";
  if (c.residual) {
    std::string a = act_qdq("y0", "add_in0");
    std::string b = c.quantize_residual ? act_qdq("x", "add_in1") : std::string("x");
    add_node(g, "Add", "layer1.add", {a, b}, {"y1"});
    y = "y1";
  }
  auto* out = g.add_output();
  out->set_name(y);
  out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  return mp;
}

bool has_rule(const exporter::TrtCheckResult& r, const std::string& rule) {
  for (const auto& v : r.violations)
    if (v.rule == rule) return true;
  return false;
}

const exporter::TrtNodeVerdict* verdict(const exporter::TrtCheckResult& r, const std::string& node) {
  for (const auto& n : r.nodes)
    if (n.node == node) return &n;
  return nullptr;
}

TEST(TensorrtCheck, SymmetricInt8PerChannelGraphPasses) {
  auto r = exporter::check_tensorrt(build(Qdq{}));
  EXPECT_TRUE(r.ok()) << r.table();
  ASSERT_EQ(r.nodes.size(), 1u);
  EXPECT_TRUE(r.nodes[0].int8);
  EXPECT_EQ(r.nodes[0].node, "layer1.conv");
}

TEST(TensorrtCheck, PerTensorWeightIsAllowed) {
  Qdq c;
  c.weight_per_channel = false;
  auto r = exporter::check_tensorrt(build(c));
  EXPECT_TRUE(r.ok()) << r.table();
}

TEST(TensorrtCheck, AsymmetricZeroPointIsAViolationAndTheConvFallsBack) {
  Qdq c;
  c.act_zp = 3;
  auto r = exporter::check_tensorrt(build(c));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_rule(r, "symmetric")) << r.table();
  const auto* v = verdict(r, "layer1.conv");
  ASSERT_NE(v, nullptr);
  EXPECT_FALSE(v->int8);
  EXPECT_NE(v->reason.find("symmetric"), std::string::npos) << v->reason;
}

TEST(TensorrtCheck, Uint8IsAViolation) {
  Qdq c;
  c.act_type = onnx::TensorProto_DataType_UINT8;
  auto r = exporter::check_tensorrt(build(c));
  EXPECT_TRUE(has_rule(r, "int8")) << r.table();
  EXPECT_FALSE(r.ok());
}

TEST(TensorrtCheck, AsymmetricWeightZeroPointIsAViolation) {
  Qdq c;
  c.weight_zp = 1;
  auto r = exporter::check_tensorrt(build(c));
  EXPECT_TRUE(has_rule(r, "symmetric")) << r.table();
}

TEST(TensorrtCheck, PerChannelOnTheWrongAxisIsAViolation) {
  Qdq c;
  c.weight_axis = 1;  // input channels of the Conv weight (4 of them too, so the graph is valid)
  auto r = exporter::check_tensorrt(build(c));
  EXPECT_TRUE(has_rule(r, "per_channel_axis")) << r.table();
  EXPECT_FALSE(verdict(r, "layer1.conv")->int8);
}

TEST(TensorrtCheck, PerChannelActivationIsAViolation) {
  Qdq c;
  c.act_per_channel = true;
  auto r = exporter::check_tensorrt(build(c));
  EXPECT_TRUE(has_rule(r, "per_channel_activation")) << r.table();
}

TEST(TensorrtCheck, NonPositiveScaleIsAViolation) {
  Qdq c;
  c.weight_scale = 0.0f;
  auto r = exporter::check_tensorrt(build(c));
  EXPECT_TRUE(has_rule(r, "scale")) << r.table();
}

TEST(TensorrtCheck, MissingQdqBeforeAConvRunsItInFloat) {
  Qdq c;
  c.quantize_input = false;
  auto r = exporter::check_tensorrt(build(c));
  EXPECT_TRUE(r.violations.empty()) << r.table();
  const auto* v = verdict(r, "layer1.conv");
  ASSERT_NE(v, nullptr);
  EXPECT_FALSE(v->int8);
  EXPECT_EQ(v->reason, "input 0 not quantized -> Conv runs in float");
  EXPECT_FALSE(r.ok());
}

TEST(TensorrtCheck, ResidualAddNeedsBothInputsQuantized) {
  Qdq c;
  c.residual = true;
  auto good = exporter::check_tensorrt(build(c));
  EXPECT_TRUE(good.ok()) << good.table();
  ASSERT_NE(verdict(good, "layer1.add"), nullptr);
  c.quantize_residual = false;
  auto bad = exporter::check_tensorrt(build(c));
  const auto* v = verdict(bad, "layer1.add");
  ASSERT_NE(v, nullptr);
  EXPECT_FALSE(v->int8);
  EXPECT_EQ(v->reason, "input 1 not quantized -> Add runs in float");
  EXPECT_NE(bad.table().find("layer1.add"), std::string::npos);
}

// Our own QDQ export of TensorRT-style quantized nets passes; a uint8-activation export does not.
// What a file may hold and our exporter never writes (found by the onnx_trt fuzz target): node names
// that are not UTF-8 (--json threw nlohmann's type_error 316), nodes without outputs or with fewer
// inputs than their op has (out-of-range protobuf reads), a Transpose whose output is its input.
TEST(TensorrtCheck, MalformedGraphsFromAFileAreChecked) {
  onnx::ModelProto mp = build(Qdq{});
  onnx::GraphProto& g = *mp.mutable_graph();
  for (auto& n : *g.mutable_node())
    if (n.name() == "layer1.conv") n.set_name("layer1.conv\xff\xfe");
  add_node(g, "Conv", "", {"w"}, {});              // reads the per-channel weight, no output, one input
  add_node(g, "Transpose", "", {"w"}, {});         // a weight consumer without an output
  add_node(g, "Transpose", "t1", {"w"}, {"t"});    // ... and one into a cycle
  add_node(g, "Transpose", "loop", {"t"}, {"t"});
  add_node(g, "DequantizeLinear", "", {}, {});     // nothing at all
  auto r = exporter::check_tensorrt(mp);
  EXPECT_TRUE(has_rule(r, "qparams_constant")) << r.table();  // the empty DequantizeLinear
  std::string json = r.to_json().dump();
  EXPECT_NE(json.find("layer1.conv\xef\xbf\xbd\xef\xbf\xbd"), std::string::npos) << json;  // U+FFFD twice
  EXPECT_NE(r.table().find("Conv()"), std::string::npos) << r.table();                   // unnamed, no output
}

TEST(TensorrtCheck, OurTensorrtStyleExportPassesAndUint8DoesNot) {
  const std::string text = R"(graph(%x: f32[1,4,6,6]) {
  %w1 = param[name="c1.weight"]() @layer1.conv1
  %y1 = conv2d[padding=[1,1]](%x, %w1) @layer1.conv1
  %r1 = relu(%y1) @layer1.relu
  %w2 = param[name="c2.weight"]() @layer1.conv2
  %y2 = conv2d[padding=[1,1]](%r1, %w2) @layer1.conv2
  %s = add(%y2, %r1) @layer1.add
  %w3 = param[name="fc.weight"]() @fc
  %f = flatten[start_dim=1](%s) @flatten
  %y = linear(%f, %w3) @fc
  return(%y)
})";
  std::map<std::string, std::vector<int64_t>> shapes = {
      {"c1.weight", {8, 4, 3, 3}}, {"c2.weight", {8, 8, 3, 3}}, {"fc.weight", {5, 288}}};
  for (bool u8 : {false, true}) {
    ir::Model m = test::model_from_ir(text, shapes);
    test::QuantSpec q;
    if (u8) q.a_qmin = 0, q.a_qmax = 255, q.a_symmetric = false;
    test::insert_fake_quant(m, test::random_input(m, 4, 3), q);
    auto r = exporter::check_tensorrt(exporter::to_onnx(m));
    EXPECT_EQ(r.nodes.size(), 4u) << r.table();  // 2 Conv, 1 Add, 1 Gemm
    if (!u8) EXPECT_TRUE(r.ok()) << r.table();
    else EXPECT_TRUE(has_rule(r, "int8") && r.int8_nodes() == 0) << r.table();
  }
}

TEST(TensorrtCheck, CliPrintsTheTableAndStrictExitsTwo) {
  test::TempDir dir;
  Qdq c;
  c.residual = true;
  c.quantize_residual = false;
  const std::string path = dir.file("bad.onnx");
  {
    std::ofstream os(path, std::ios::binary);
    ASSERT_TRUE(build(c).SerializeToOstream(&os));
  }
  auto r = test::run_compress("check-tensorrt " + path);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("layer1.add"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("input 1 not quantized -> Add runs in float"), std::string::npos) << r.out;
  auto s = test::run_compress("check-tensorrt " + path + " --strict");
  EXPECT_EQ(s.exit_code, 2) << s.out;
  auto missing = test::run_compress("check-tensorrt " + dir.file("nope.onnx"));
  EXPECT_EQ(missing.exit_code, 2) << missing.out;
  EXPECT_NE(missing.out.find("nope.onnx"), std::string::npos) << missing.out;
  const std::string good = dir.file("good.onnx");
  {
    std::ofstream os(good, std::ios::binary);
    ASSERT_TRUE(build(Qdq{}).SerializeToOstream(&os));
  }
  auto g = test::run_compress("check-tensorrt " + good + " --strict --json");
  EXPECT_EQ(g.exit_code, 0) << g.out;
  EXPECT_NE(g.out.find("\"ok\":true"), std::string::npos) << g.out;
}

// INT4 (opset 21): TensorRT takes INT4 as weight-only quantization of MatMul / Gemm weights
// (IDequantizeLayer: int4 with per-tensor, per-channel or block scales). An INT4 conv weight (what
// our opset-21 export writes) is a violation; blocked and per-channel INT4 MatMul weights pass;
// UINT4 is a violation.
onnx::ModelProto int4_matmul(int32_t type, int64_t block_size) {
  onnx::ModelProto mp;
  mp.set_ir_version(10);
  mp.add_opset_import()->set_version(21);
  onnx::GraphProto& g = *mp.mutable_graph();
  g.set_name("int4");
  auto* in = g.add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  add_init(g, "a_s", onnx::TensorProto_DataType_FLOAT, {}, raw(std::vector<float>{0.05f}));
  add_init(g, "a_z", onnx::TensorProto_DataType_INT8, {}, std::string(1, '\0'));
  add_node(g, "QuantizeLinear", "in/Q", {"x", "a_s", "a_z"}, {"xq"});
  add_node(g, "DequantizeLinear", "in/DQ", {"xq", "a_s", "a_z"}, {"xd"});
  const bool is_signed = type == exporter::kOnnxInt4;  // [8, 4] weight, values -4..3 (INT4) or 0..7 (UINT4)
  const at::Tensor wv = at::arange(32, at::kLong).remainder(8).sub(is_signed ? 4 : 0).reshape({8, 4});
  exporter::packed4_to_proto(wv, is_signed, "w_q", *g.add_initializer());
  const std::vector<int64_t> sdims = block_size > 0 ? std::vector<int64_t>{8 / block_size, 4} : std::vector<int64_t>{4};
  const int64_t ns = block_size > 0 ? 8 / block_size * 4 : 4;
  add_init(g, "w_s", onnx::TensorProto_DataType_FLOAT, sdims, raw(std::vector<float>(static_cast<size_t>(ns), 0.02f)));
  exporter::packed4_to_proto(at::zeros(sdims, at::kLong), is_signed, "w_z", *g.add_initializer());
  auto* dq = add_node(g, "DequantizeLinear", "fc/w_DQ", {"w_q", "w_s", "w_z"}, {"w"}, block_size > 0 ? 0 : 1);
  if (block_size > 0) {
    auto* a = dq->add_attribute();
    a->set_name("block_size");
    a->set_type(onnx::AttributeProto_AttributeType_INT);
    a->set_i(block_size);
  }
  add_node(g, "MatMul", "fc", {"xd", "w"}, {"y"});
  g.add_output()->set_name("y");
  return mp;
}

TEST(TensorrtCheck, Int4OnlyAsSignedMatMulWeights) {
  auto blocked = exporter::check_tensorrt(int4_matmul(exporter::kOnnxInt4, 2));
  EXPECT_TRUE(blocked.ok()) << blocked.table();
  auto per_channel = exporter::check_tensorrt(int4_matmul(exporter::kOnnxInt4, 0));
  EXPECT_TRUE(per_channel.ok()) << per_channel.table();
  auto u4 = exporter::check_tensorrt(int4_matmul(exporter::kOnnxUint4, 2));
  EXPECT_TRUE(has_rule(u4, "int4")) << u4.table();

  // An INT4 per-channel conv weight, as the opset-21 export writes it.
  onnx::ModelProto conv = build(Qdq{});
  for (auto& t : *conv.mutable_graph()->mutable_initializer()) {
    if (t.name() == "w_q") {
      onnx::TensorProto p;
      exporter::packed4_to_proto(at::arange(144, at::kLong).remainder(16).sub(8).reshape({4, 4, 3, 3}), true, "w_q", p);
      t = p;
    } else if (t.name() == "w_z") {
      onnx::TensorProto p;
      exporter::packed4_to_proto(at::zeros({4}, at::kLong), true, "w_z", p);
      t = p;
    }
  }
  auto r = exporter::check_tensorrt(conv);
  EXPECT_TRUE(has_rule(r, "int4_conv")) << r.table();
  EXPECT_FALSE(has_rule(r, "int8")) << r.table();  // the INT4 zero point is not reported as "not int8"
  const auto* cv = verdict(r, "layer1.conv");
  ASSERT_NE(cv, nullptr);
  EXPECT_FALSE(cv->int8);
  EXPECT_NE(cv->reason.find("int4_conv"), std::string::npos) << cv->reason;
}

}  // namespace
}  // namespace mc
