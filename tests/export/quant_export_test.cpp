// QDQ export of fake_quant (export/ops/quant.cpp): weights as integer initializers + DequantizeLinear,
// activations QuantizeLinear -> DequantizeLinear. Checked against ONNX Runtime (outputs within one
// quantization step of our executor's fake-quant output, at batch 1 and 3), ONNX's checker (in
// to_onnx), the integers stored (exactly ATen's fake-quantize grid) and ORT's optimised graph
// (every Conv / Gemm / MatMul runs as an integer op).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "export/onnx_export.h"
#include "export/export_test_util.h"
#include "export/quant_test_util.h"
#include "ir/model.h"
#include "runtime/executor.h"
#include "support/test_env.h"

namespace mc {
namespace {

using test::QuantSpec;
using test::hist_str;
using test::ort_optimized_histogram;

const onnx::TensorProto* initializer(const onnx::ModelProto& mp, const std::string& name) {
  for (const auto& t : mp.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

struct Net {
  std::string name;
  std::string ir;
  std::vector<int64_t> input;
  std::map<std::string, std::vector<int64_t>> tensors;
  std::vector<std::string> float_ops;  // ONNX float ops that must become integer ops in ORT
};

// conv / linear / matmul / residual add / concat, each followed by quantized consumers so that ORT
// sees a Q after every compute op (its QLinear* fusions need quantized inputs and output).
const std::vector<Net>& nets() {
  static const std::vector<Net> v = {
      {"conv", R"(%w1 = param[name="c1.weight"]() @c1
  %b1 = param[name="c1.bias"]() @c1
  %y1 = conv2d[stride=[1,1], padding=[1,1]](%x, %w1, %b1) @c1
  %r1 = relu(%y1) @r1
  %w2 = param[name="c2.weight"]() @c2
  %y2 = conv2d[stride=[2,2], padding=[1,1]](%r1, %w2) @c2
  return(%y2))", {1, 3, 8, 8}, {{"c1.weight", {8, 3, 3, 3}}, {"c1.bias", {8}}, {"c2.weight", {6, 8, 3, 3}}}, {"Conv"}},
      {"linear", R"(%w1 = param[name="fc1.weight"]() @fc1
  %b1 = param[name="fc1.bias"]() @fc1
  %y1 = linear(%x, %w1, %b1) @fc1
  %r1 = relu(%y1) @r1
  %w2 = param[name="fc2.weight"]() @fc2
  %b2 = param[name="fc2.bias"]() @fc2
  %y2 = linear(%r1, %w2, %b2) @fc2
  return(%y2))", {1, 12}, {{"fc1.weight", {16, 12}}, {"fc1.bias", {16}}, {"fc2.weight", {5, 16}}, {"fc2.bias", {5}}},
       {"Gemm", "MatMul"}},
      {"matmul", R"(%w1 = param[name="m1.weight"]() @m1
  %y1 = matmul(%x, %w1) @m1
  %w2 = param[name="m2.weight"]() @m2
  %y2 = matmul(%y1, %w2) @m2
  return(%y2))", {1, 4, 12}, {{"m1.weight", {12, 8}}, {"m2.weight", {8, 6}}}, {"MatMul", "Gemm"}},
      {"residual_add", R"(%w1 = param[name="c1.weight"]() @c1
  %y1 = conv2d[stride=[1,1], padding=[1,1]](%x, %w1) @c1
  %r1 = relu(%y1) @r1
  %w2 = param[name="c2.weight"]() @c2
  %y2 = conv2d[stride=[1,1], padding=[1,1]](%r1, %w2) @c2
  %s = add(%y2, %r1) @add
  %r2 = relu(%s) @r2
  %w3 = param[name="c3.weight"]() @c3
  %y3 = conv2d[stride=[1,1], padding=[0,0]](%r2, %w3) @c3
  return(%y3))", {1, 4, 6, 6}, {{"c1.weight", {8, 4, 3, 3}}, {"c2.weight", {8, 8, 3, 3}}, {"c3.weight", {5, 8, 1, 1}}},
       {"Conv"}},
      {"concat", R"(%w1 = param[name="c1.weight"]() @c1
  %y1 = conv2d[stride=[1,1], padding=[1,1]](%x, %w1) @c1
  %w2 = param[name="c2.weight"]() @c2
  %y2 = conv2d[stride=[1,1], padding=[0,0]](%x, %w2) @c2
  %c = cat[dim=1](%y1, %y2) @cat
  %w3 = param[name="c3.weight"]() @c3
  %y3 = conv2d[stride=[1,1], padding=[0,0]](%c, %w3) @c3
  return(%y3))", {1, 3, 6, 6}, {{"c1.weight", {4, 3, 3, 3}}, {"c2.weight", {5, 3, 1, 1}}, {"c3.weight", {6, 9, 1, 1}}},
       {"Conv"}},
      // max-pool and flatten share their input's quantizer: the export re-quantizes after them
      // (exact) so that fc's input comes from a DequantizeLinear.
      {"pool_flatten", R"(%w1 = param[name="c1.weight"]() @c1
  %y1 = conv2d[stride=[1,1], padding=[1,1]](%x, %w1) @c1
  %r1 = relu(%y1) @r1
  %p = max_pool2d[kernel=[2,2]](%r1) @pool
  %f = flatten[start_dim=1](%p) @flatten
  %w2 = param[name="fc.weight"]() @fc
  %b2 = param[name="fc.bias"]() @fc
  %y2 = linear(%f, %w2, %b2) @fc
  return(%y2))", {1, 3, 6, 6}, {{"c1.weight", {4, 3, 3, 3}}, {"fc.weight", {5, 36}}, {"fc.bias", {5}}},
       {"Conv", "Gemm", "MatMul"}},
      // an average pool with a quantized output: ORT's pooled mean matches fake_quant(mean) (this
      // helper leaves the pool's input float, so ORT keeps that pool in float; the planner's
      // placement, which quantizes both, is checked on resnet8 below).
      {"avgpool_fc", R"(%w1 = param[name="c1.weight"]() @c1
  %y1 = conv2d[stride=[1,1], padding=[1,1]](%x, %w1) @c1
  %r1 = relu(%y1) @r1
  %p = adaptive_avg_pool2d[output_size=[1,1]](%r1) @pool
  %f = flatten[start_dim=1](%p) @flatten
  %w2 = param[name="fc.weight"]() @fc
  %b2 = param[name="fc.bias"]() @fc
  %y2 = linear(%f, %w2, %b2) @fc
  return(%y2))", {1, 3, 6, 6}, {{"c1.weight", {4, 3, 3, 3}}, {"fc.weight", {5, 4}}, {"fc.bias", {5}}},
       {"Conv", "Gemm", "MatMul"}},
  };
  return v;
}

struct Grid {
  std::string name;
  QuantSpec spec;
};

std::vector<Grid> grids() {
  std::vector<Grid> v;
  QuantSpec s;  // int8 symmetric activations, per-channel int8 weights
  v.push_back({"int8_per_channel", s});
  s.per_channel = false;
  v.push_back({"int8_per_tensor", s});
  s = QuantSpec{};
  s.a_qmin = 0, s.a_qmax = 255, s.a_symmetric = false;  // uint8 affine activations
  v.push_back({"uint8_affine", s});
  s = QuantSpec{};
  s.a_qmin = -8, s.a_qmax = 7, s.w_qmin = -7, s.w_qmax = 7;  // 4-bit activations and weights
  v.push_back({"int4", s});
  s = QuantSpec{};
  s.a_qmin = 0, s.a_qmax = 15, s.a_symmetric = false, s.w_qmin = -8, s.w_qmax = 7;  // uint4 affine
  v.push_back({"uint4_affine", s});
  return v;
}

std::string graph_text(const Net& n) {
  std::string shape;
  for (size_t i = 0; i < n.input.size(); ++i) shape += (i ? "," : "") + std::to_string(n.input[i]);
  return "graph(%x: f32[" + shape + "]) {\n" + n.ir + "\n}\n";
}

ir::Model quantized(const Net& net, const QuantSpec& spec) {
  ir::Model m = test::model_from_ir(graph_text(net), net.tensors);
  QuantSpec q = spec;
  q.quantize_output = true;
  if (net.name == "pool_flatten") q.act_ops.insert("max_pool2d");
  if (net.name == "avgpool_fc") q.act_ops.insert("adaptive_avg_pool2d");
  insert_fake_quant(m, test::random_input(m, 8, 11, 2.0), q);
  if (net.name == "pool_flatten") {
    // As quantization/'s planner places it: the pool's input is quantized, fc reads
    // flatten(max_pool(fake_quant(r1))) with no quantizer of its own.
    for (ir::Node* n : m.graph.nodes())
      if (n->op() == "linear" && n->input(0)->producer()->op() == "fake_quant") {
        ir::Node* fq = n->input(0)->producer();
        m.graph.set_input(n, 0, fq->input(0));
        m.graph.remove_node(fq);
        break;
      }
    m.infer_shapes();
    m.verify();
  }
  return m;
}

// ORT's output of the QDQ export is within one output quantization step of our fake-quant output
// (they differ only where x / scale lands on a rounding tie: ONNX divides, ATen multiplies by the
// reciprocal), at batch 1 and 3.
TEST(QuantExport, OrtMatchesFakeQuantWithinOneStep) {
  test::TempDir dir;
  for (const Net& net : nets())
    for (const Grid& grid : grids()) {
      SCOPED_TRACE(net.name + " / " + grid.name);
      ir::Model m = quantized(net, grid.spec);
      const std::string path = dir.file(net.name + "_" + grid.name + ".onnx");
      exporter::export_onnx(m, path);
      const double step = test::output_step(m);
      for (int64_t batch : {1, 3}) {
        at::Tensor x = test::random_input(m, batch, 100 + static_cast<uint64_t>(batch), 2.0);
        runtime::Executor ex(m);
        at::Tensor ours = ex.run1(x);
        at::Tensor ort = test::run_ort(path, x);
        ASSERT_TRUE(ort.defined());
        ASSERT_EQ(ours.sizes(), ort.sizes());
        double diff = (ours - ort).abs().max().item<double>();
        EXPECT_LE(diff, step * 1.001) << "batch " << batch << ": max |ORT - ours| " << diff << ", step " << step;
        // (How many outputs sit one step apart varies with the grid: up to 20% on 4-bit grids,
        // where rounding ties between ORT's and ATen's arithmetic are frequent; not asserted.)
        // Not trivially equal: the quantized output differs from the float model's.
      }
    }
}

// Every Conv / Gemm / MatMul runs as an integer op in ORT's optimised graph (int8 grids; ORT has
// no integer kernels for the Clip that narrower grids need, so they are not asserted here). The
// residual-add, concat and pool graphs need export/qdq_layout.cpp: one Q/DQ pair per consumer
// (else ORT keeps the Conv reading a shared pair in float) and a Q/DQ after value-preserving ops.
// With affine uint8 activations (zero-point 0 after a ReLU) ORT also drops every Relu.
TEST(QuantExport, OrtRunsEveryComputeOpInInteger) {
  test::TempDir dir;
  for (const Net& net : nets())
    for (const Grid& grid : grids()) {
      if (grid.name == "int4" || grid.name == "uint4_affine") continue;
      SCOPED_TRACE(net.name + " / " + grid.name);
      ir::Model m = quantized(net, grid.spec);
      const std::string path = dir.file(net.name + "_" + grid.name + ".onnx");
      exporter::export_onnx(m, path);
      auto h = ort_optimized_histogram(path);
      for (const std::string& op : net.float_ops) EXPECT_EQ(h.count(op), 0u) << op << " left in float: " << hist_str(h);
      int integer_ops = 0;
      for (const char* op : {"QLinearConv", "com.microsoft.QLinearConv", "com.microsoft.QGemm", "QLinearMatMul",
                             "MatMulInteger", "com.microsoft.MatMulIntegerToFloat", "ConvInteger",
                             "com.microsoft.nchwc.QLinearConv"})
        integer_ops += h.count(op) ? h.at(op) : 0;
      EXPECT_GE(integer_ops, 2) << hist_str(h);
      if (net.name == "residual_add") EXPECT_EQ(h.count("Add"), 0u) << "float Add: " << hist_str(h);
      if (grid.name == "uint8_affine") EXPECT_EQ(h.count("Relu"), 0u) << "float Relu: " << hist_str(h);
    }
}

// Weights are stored as integers: exactly ATen's fake-quantize grid, int8 containers for int8,
// 4-bit, ternary and binary grids; DequantizeLinear of them is bit-identical to fake_quant(w); no
// float copy of a quantized weight is left in the file.
TEST(QuantExport, WeightInitializersHoldTheExactIntegerGrid) {
  struct G {
    int64_t qmin, qmax, axis;
  };
  for (G gr : {G{-128, 127, 0}, G{-127, 127, -1}, G{-8, 7, 0}, G{-1, 1, 0}, G{0, 1, -1}, G{0, 255, 0}}) {
    SCOPED_TRACE(std::to_string(gr.qmin) + ".." + std::to_string(gr.qmax) + " axis " + std::to_string(gr.axis));
    ir::Model m = test::model_from_ir(R"(graph(%x: f32[1,3,5,5]) {
  %w = param[name="c.weight"]() @c
  %s = constant[name="c.w_scale"]() @c
  %z = constant[name="c.w_zp"]() @c
  %wq = fake_quant[quant_min=)" + std::to_string(gr.qmin) + ", quant_max=" + std::to_string(gr.qmax) +
                                          ", axis=" + std::to_string(gr.axis) + R"(](%w, %s, %z) @c
  %y = conv2d[padding=[1,1]](%x, %wq) @c
  return(%y)
})",
                                      {{"c.weight", {4, 3, 3, 3}},
                                       {"c.w_scale", gr.axis != -1 ? std::vector<int64_t>{4} : std::vector<int64_t>{}},
                                       {"c.w_zp", gr.axis != -1 ? std::vector<int64_t>{4} : std::vector<int64_t>{}}});
    const bool pc = gr.axis != -1;
    at::Tensor w = m.tensors["c.weight"];
    at::Tensor amax = pc ? std::get<0>(w.abs().reshape({4, -1}).max(1)) : w.abs().max();
    at::Tensor scale = (amax / std::max<int64_t>(gr.qmax, 1) * 0.8).to(at::kFloat);  // some values clip
    at::Tensor zp = at::full(scale.sizes(), gr.qmin == 0 && gr.qmax == 255 ? 128 : 0, at::kInt);
    m.tensors["c.w_scale"] = scale;
    m.tensors["c.w_zp"] = zp;
    m.infer_shapes();
    onnx::ModelProto mp = exporter::to_onnx(m);
    const onnx::TensorProto* q = initializer(mp, "c.weight_quantized");
    ASSERT_NE(q, nullptr);
    const bool u8 = gr.qmin == 0 && gr.qmax == 255;
    EXPECT_EQ(q->data_type(), u8 ? onnx::TensorProto_DataType_UINT8 : onnx::TensorProto_DataType_INT8);
    EXPECT_EQ(initializer(mp, "c.weight"), nullptr) << "float weight still exported";
    at::Tensor qi = at::from_blob(const_cast<char*>(q->raw_data().data()), {4, 3, 3, 3}, u8 ? at::kByte : at::kChar)
                        .to(at::kLong);
    // Reference integers from ATen's own fake-quantize: (fq(w) / scale) + zp, rounded.
    at::Tensor fq = pc ? at::fake_quantize_per_channel_affine(w, scale, zp, 0, gr.qmin, gr.qmax)
                       : at::fake_quantize_per_tensor_affine(w, scale.reshape({1}), zp.reshape({1}), gr.qmin, gr.qmax);
    at::Tensor sb = pc ? scale.reshape({4, 1, 1, 1}) : scale;
    at::Tensor zb = pc ? zp.reshape({4, 1, 1, 1}) : zp;
    at::Tensor want = at::round(fq / sb).to(at::kLong) + zb.to(at::kLong);
    EXPECT_TRUE(at::equal(qi, want));
    EXPECT_GE(qi.min().item<int64_t>(), gr.qmin);
    EXPECT_LE(qi.max().item<int64_t>(), gr.qmax);
    // The largest |w| of a channel lands on an end of the grid (+-qmax when symmetric).
    EXPECT_TRUE((qi == gr.qmax).any().item<bool>() || (qi == gr.qmin).any().item<bool>() ||
                (qi == -gr.qmax).any().item<bool>())
        << "the grid's end is never reached";
    // DequantizeLinear's arithmetic, (q - zp) * scale in float, is bit-identical to fake_quant(w).
    EXPECT_TRUE(at::equal(((qi - zb.to(at::kLong)).to(at::kFloat) * sb), fq));
  }
}

// Activation scale / zero-point are 0-d scalars (per-tensor), int8 for signed grids, uint8 else;
// a 4-bit grid gets a Clip to its real range before QuantizeLinear; no float weight is left.
TEST(QuantExport, ActivationQdqUsesScalarQparamsAndClipsNarrowGrids) {
  for (const Grid& grid : grids()) {
    SCOPED_TRACE(grid.name);
    ir::Model m = quantized(nets()[0], grid.spec);
    onnx::ModelProto mp = exporter::to_onnx(m);
    int q = 0, clip = 0;
    for (const auto& n : mp.graph().node()) {
      if (n.op_type() == "Clip") ++clip;
      if (n.op_type() != "QuantizeLinear") continue;
      ++q;
      const onnx::TensorProto* s = initializer(mp, n.input(1));
      const onnx::TensorProto* z = initializer(mp, n.input(2));
      ASSERT_TRUE(s && z);
      EXPECT_EQ(s->dims_size(), 0);
      EXPECT_EQ(z->dims_size(), 0);
      EXPECT_EQ(z->data_type(), grid.spec.a_qmin < 0 ? onnx::TensorProto_DataType_INT8 : onnx::TensorProto_DataType_UINT8);
    }
    const bool narrow = grid.spec.a_qmax - grid.spec.a_qmin < 255;
    // input of c1, input of c2, the output; a full-container grid after the relu also quantizes
    // c1's output before the Relu (Q(y) -> DQ -> Relu -> Q -> DQ).
    EXPECT_EQ(q, narrow ? 3 : 4);
    EXPECT_EQ(clip, narrow ? 3 : 0);
    for (const auto& t : mp.graph().initializer())
      if (t.name().find("weight") != std::string::npos && t.name().find("scale") == std::string::npos &&
          t.name().find("zero_point") == std::string::npos)
        EXPECT_NE(t.data_type(), onnx::TensorProto_DataType_FLOAT) << t.name();
  }
}

// Without the Clip a 4-bit activation would saturate at the int8 container's ends: values far
// outside the calibrated range must come out of ORT clamped to the 4-bit grid, as in our executor.
TEST(QuantExport, NarrowGridSaturatesAtTheGridNotTheContainer) {
  test::TempDir dir;
  ir::Model m = test::model_from_ir(R"(graph(%x: f32[1,4]) {
  %s = constant[name="s"]()
  %z = constant[name="z"]()
  %y = fake_quant[quant_min=-8, quant_max=7](%x, %s, %z) @q
  return(%y)
})",
                                    {{"s", {}}, {"z", {}}});
  m.tensors["s"] = at::scalar_tensor(0.5, at::kFloat);
  m.tensors["z"] = at::scalar_tensor(2, at::kInt);
  m.infer_shapes();
  exporter::export_onnx(m, dir.file("q4.onnx"));
  at::Tensor x = at::tensor({-100.0f, -3.2f, 2.26f, 100.0f}).reshape({1, 4});
  runtime::Executor ex(m);
  at::Tensor ours = ex.run1(x);
  at::Tensor ort = test::run_ort(dir.file("q4.onnx"), x);
  ASSERT_TRUE(ort.defined());
  // grid [-8, 7] with zp 2: real range [(-8 - 2) * 0.5, (7 - 2) * 0.5] = [-5, 2.5].
  EXPECT_TRUE(at::equal(ours, at::tensor({-5.0f, -3.0f, 2.5f, 2.5f}).reshape({1, 4})));
  EXPECT_TRUE(at::equal(ort, ours)) << ort;
}

TEST(QuantExport, SixteenBitGridIsAnInputErrorNamingTheNode) {
  ir::Model m = test::model_from_ir(R"(graph(%x: f32[1,4]) {
  %s = constant[name="s"]()
  %z = constant[name="z"]()
  %y = fake_quant[quant_min=-32768, quant_max=32767](%x, %s, %z) @blk.q
  return(%y)
})",
                                    {{"s", {}}, {"z", {}}});
  m.tensors["s"] = at::scalar_tensor(0.5, at::kFloat);
  m.tensors["z"] = at::scalar_tensor(0, at::kInt);
  m.infer_shapes();
  try {
    exporter::to_onnx(m);
    FAIL() << "no error";
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("blk.q"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at most 8 bits"), std::string::npos) << msg;
  }
}

TEST(QuantExport, ComputedScaleIsAnInputError) {
  ir::Model m = test::model_from_ir(R"(graph(%x: f32[1,4]) {
  %s0 = constant[name="s"]()
  %s = relu(%s0)
  %z = constant[name="z"]()
  %y = fake_quant[quant_min=-128, quant_max=127](%x, %s, %z) @blk.q
  return(%y)
})",
                                    {{"s", {}}, {"z", {}}});
  m.tensors["s"] = at::scalar_tensor(0.5, at::kFloat);
  m.tensors["z"] = at::scalar_tensor(0, at::kInt);
  m.infer_shapes();
  EXPECT_THROW(
      {
        try {
          exporter::to_onnx(m);
        } catch (const InputError& e) {
          EXPECT_NE(std::string(e.what()).find("constant or param"), std::string::npos) << e.what();
          throw;
        }
      },
      InputError);
}

// A quantized constant weight survives the export's clean-up passes (constant folding would turn
// fake_quant(constant) back into a float constant).
TEST(QuantExport, QuantizedConstantWeightIsNotFoldedBackToFloat) {
  ir::Model m = test::model_from_ir(R"(graph(%x: f32[1,6]) {
  %w = constant[name="fc.weight"]() @fc
  %s = constant[name="fc.s"]() @fc
  %z = constant[name="fc.z"]() @fc
  %wq = fake_quant[quant_min=-127, quant_max=127, axis=0](%w, %s, %z) @fc
  %y = linear(%x, %wq) @fc
  return(%y)
})",
                                    {{"fc.weight", {5, 6}}, {"fc.s", {5}}, {"fc.z", {5}}});
  m.tensors["fc.s"] = at::full({5}, 0.01f);
  m.tensors["fc.z"] = at::zeros({5}, at::kInt);
  m.infer_shapes();
  exporter::optimize_for_export(m);
  onnx::ModelProto mp = exporter::to_onnx(m);
  const onnx::TensorProto* q = initializer(mp, "fc.weight_quantized");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->data_type(), onnx::TensorProto_DataType_INT8);
}


// The planner's placement on a real network, through `compress` (PTQ + export of the trained
// resnet8): ORT runs every Conv, the residual adds, the average pool and the classifier in integer
// (the pool's output is quantized with its input's scale, the classifier's float bias is an Add
// after the QGemm); with uint8 activations no float Relu is left either.
TEST(QuantExport, PtqResnet8RunsConvsAddsPoolAndClassifierInIntegerInOrt) {
  ASSERT_TRUE(std::filesystem::exists(test::resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  test::TempDir d;
  const std::string r = d.write("r.yaml", "name: q\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + test::resnet8_fixture() +
                                              "}\ndata:\n  train: {dataset: fashion_mnist, limit: 512, batch_size: 128, "
                                              "transform: fmnist_eval}\n  calib: {from: train, samples: 256}\n"
                                              "stages:\n  - quantize: {mode: ptq, activations: {qscheme: per_tensor_affine, "
                                              "dtype: quint8}}\n  - export: {onnx: q.onnx}\nreport: {formats: [json], latency: false}\n");
  auto res = test::run_compress("--recipe " + r + " --out " + d.file("run") + " -q");
  ASSERT_EQ(res.exit_code, 0) << res.out;
  const auto h = ort_optimized_histogram(d.file("run/q.onnx"));
  for (const char* op : {"Conv", "Gemm", "MatMul", "GlobalAveragePool", "Relu", "DequantizeLinear"})
    EXPECT_EQ(h.count(op), 0u) << op << " left in float: " << hist_str(h);
  auto count = [&](const char* op) { return h.count(op) ? h.at(op) : 0; };
  EXPECT_EQ(count("com.microsoft.QLinearConv"), 9) << hist_str(h);
  EXPECT_EQ(count("com.microsoft.QLinearAdd"), 3) << hist_str(h);
  EXPECT_EQ(count("com.microsoft.QLinearGlobalAveragePool"), 1) << hist_str(h);
  EXPECT_EQ(count("com.microsoft.QGemm"), 1) << hist_str(h);
  EXPECT_LE(count("Add"), 1) << "only the classifier's bias: " << hist_str(h);
  // The 1-channel stem reads its input padded to 4 channels (zero weights for the new ones).
  EXPECT_EQ(count("Pad"), 1) << hist_str(h);
  const onnx::ModelProto mp = test::load_onnx(d.file("run/q.onnx"));
  bool stem = false;
  for (const auto& t : mp.graph().initializer())
    if (t.name() == "conv1.weight_quantized") {
      stem = true;
      ASSERT_EQ(t.dims_size(), 4);
      EXPECT_EQ(t.dims(1), 4);
      for (int64_t o = 0; o < t.dims(0); ++o)
        for (int64_t i = 9; i < 36; ++i) ASSERT_EQ(t.raw_data()[static_cast<size_t>(o * 36 + i)], 0) << o << " " << i;
    }
  EXPECT_TRUE(stem);

  // Same logits as our executor's fake-quant model up to ORT's integer convs: the pool itself is
  // computed as ORT's QLinearGlobalAveragePool (bit for bit, QuantizedPool tests), but a conv output
  // that ORT's requantization rounds the other way can move a channel's mean across a rounding
  // boundary, one pool step times the classifier's weights (measured 0.095 of 3.68, 2.6 %).
  ir::Model m = ir::Model::load(d.file("run/ckpt/02_export.mcm"));
  at::manual_seed(0);
  const at::Tensor x = at::randn({8, 1, 28, 28});
  const at::Tensor ours = runtime::Executor(m).run1(x), ort = test::run_ort(d.file("run/q.onnx"), x);
  ASSERT_TRUE(ort.defined());
  const double diff = (ours - ort).abs().max().item<double>();
  std::cout << "max |ORT - ours| " << diff << " of max |logit| " << ours.abs().max().item<double>() << "\n";
  EXPECT_LE(diff, 0.03 * ours.abs().max().item<double>());
}

}  // namespace
}  // namespace mc
