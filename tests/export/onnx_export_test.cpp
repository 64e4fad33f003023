// The ONNX writer itself: model structure (initializers, names, symbolic batch, metadata), the
// checker, opset selection, atomic writing and errors.
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/error.h"
#include "export/onnx_export.h"
#include "export/op_mapping.h"
#include "export_test_util.h"
#include "frontend/frontend.h"
#include "ir/op_registry.h"

namespace mc {
namespace {

namespace fs = std::filesystem;

const char* kNet = R"IR(
graph(%x: f32[1,3,6,6]) {
  %cw = param[name="conv.weight"]() @conv
  %cb = param[name="conv.bias"]() @conv
  %c = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%x, %cw, %cb) @conv
  %r = relu(%c) @block.act
  %r2 = relu(%r) @block.act
  %s = constant[name="scale"]() @scale
  %m = mul(%r2, %s) @scale
  %p = adaptive_avg_pool2d[output_size=[1,1]](%m) @pool
  %f = flatten[start_dim=1](%p) @flatten
  %fw = param[name="fc.weight"]() @fc
  %fb = param[name="fc.bias"]() @fc
  %y = linear(%f, %fw, %fb) @fc
  return(%y)
}
)IR";

ir::Model net() {
  return test::model_from_ir(kNet, {{"conv.weight", {4, 3, 3, 3}}, {"conv.bias", {4}}, {"scale", {}},
                                    {"fc.weight", {5, 4}}, {"fc.bias", {5}}});
}

const onnx::TensorProto* initializer(const onnx::ModelProto& mp, const std::string& name) {
  for (auto& t : mp.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

std::string meta(const onnx::ModelProto& mp, const std::string& key) {
  for (auto& p : mp.metadata_props())
    if (p.key() == key) return p.value();
  return "<absent>";
}

TEST(OnnxExport, ModelStructure) {
  ir::Model m = net();
  exporter::ExportOptions opts;
  opts.producer_version = "1.2.3";
  opts.recipe_hash = "abc123";
  opts.metadata["stage"] = "fp32";
  test::TempDir dir;
  const std::string path = dir.file("net.onnx");
  exporter::export_onnx(m, path, opts);
  ASSERT_TRUE(fs::exists(path));
  onnx::ModelProto mp = test::load_onnx(path);
  EXPECT_NO_THROW(onnx::checker::check_model(mp));

  EXPECT_EQ(mp.producer_name(), "compress");
  EXPECT_EQ(mp.producer_version(), "1.2.3");
  ASSERT_EQ(mp.opset_import_size(), 1);
  EXPECT_EQ(mp.opset_import(0).domain(), "");
  EXPECT_EQ(mp.opset_import(0).version(), 13);
  EXPECT_EQ(meta(mp, "recipe_hash"), "abc123");
  EXPECT_EQ(meta(mp, "stage"), "fp32");
  EXPECT_EQ(meta(mp, "model_name"), "test");

  // Parameters and constants are initializers under their store names; 0-d stays 0-d.
  for (const char* name : {"conv.weight", "conv.bias", "fc.weight", "fc.bias", "scale"}) {
    const onnx::TensorProto* t = initializer(mp, name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->data_type(), onnx::TensorProto_DataType_FLOAT);
    const at::Tensor& src = m.tensors.at(name);
    ASSERT_EQ(t->dims_size(), src.dim()) << name;
    for (int k = 0; k < t->dims_size(); ++k) EXPECT_EQ(t->dims(k), src.size(k));
    ASSERT_EQ(t->raw_data().size(), static_cast<size_t>(src.numel()) * 4);
    EXPECT_EQ(std::memcmp(t->raw_data().data(), src.data_ptr<float>(), t->raw_data().size()), 0) << name;
  }
  EXPECT_EQ(initializer(mp, "scale")->dims_size(), 0);

  // Input "input" with a symbolic batch, output "output" following it.
  ASSERT_EQ(mp.graph().input_size(), 1);
  const auto& in = mp.graph().input(0);
  EXPECT_EQ(in.name(), "input");
  const auto& ishape = in.type().tensor_type().shape();
  ASSERT_EQ(ishape.dim_size(), 4);
  EXPECT_EQ(ishape.dim(0).dim_param(), "batch");
  EXPECT_EQ(ishape.dim(1).dim_value(), 3);
  EXPECT_EQ(ishape.dim(3).dim_value(), 6);
  ASSERT_EQ(mp.graph().output_size(), 1);
  const auto& out = mp.graph().output(0);
  EXPECT_EQ(out.name(), "output");
  ASSERT_EQ(out.type().tensor_type().shape().dim_size(), 2);
  EXPECT_EQ(out.type().tensor_type().shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(out.type().tensor_type().shape().dim(1).dim_value(), 5);

  // Node names come from scopes and are unique; the output is written by the Gemm itself.
  std::set<std::string> names;
  std::map<std::string, std::string> op_of;
  for (auto& n : mp.graph().node()) {
    EXPECT_TRUE(names.insert(n.name()).second) << "duplicate node name " << n.name();
    op_of[n.name()] = n.op_type();
  }
  EXPECT_EQ(op_of["conv"], "Conv");
  EXPECT_EQ(op_of["block.act"], "Relu");
  EXPECT_EQ(op_of["block.act_1"], "Relu");
  EXPECT_EQ(op_of["pool"], "GlobalAveragePool");
  EXPECT_EQ(op_of["fc"], "Gemm");
  EXPECT_EQ(mp.graph().node(mp.graph().node_size() - 1).output(0), "output");
  // Shape inference ran: intermediate values carry types.
  EXPECT_GT(mp.graph().value_info_size(), 0);

  // Same numbers in ORT, at batch 2.
  runtime::Executor ex(m);
  at::Tensor x = test::random_input(m, 2, 5);
  EXPECT_TRUE(test::close_to(ex.run1(x), test::run_ort(path, x)));
}

TEST(OnnxExport, StaticBatch) {
  ir::Model m = net();
  exporter::ExportOptions opts;
  opts.dynamic_batch = false;
  onnx::ModelProto mp = exporter::to_onnx(m, opts);
  EXPECT_EQ(mp.graph().input(0).type().tensor_type().shape().dim(0).dim_value(), 1);
  EXPECT_EQ(mp.graph().output(0).type().tensor_type().shape().dim(0).dim_value(), 1);
  EXPECT_TRUE(meta(mp, "recipe_hash") == "<absent>");
}

// A graph that bakes the batch size in (a literal reshape) is exported with a fixed batch.
TEST(OnnxExport, FixedBatchWhenTheGraphIsNotBatchGeneric) {
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[2,3,4]) {
  %y = reshape[shape=[2,12]](%x) @r
  return(%y)
}
)IR", {});
  onnx::ModelProto mp = exporter::to_onnx(m, {});
  EXPECT_EQ(mp.graph().input(0).type().tensor_type().shape().dim(0).dim_value(), 2);
  EXPECT_EQ(mp.graph().output(0).type().tensor_type().shape().dim(0).dim_value(), 2);
}

// Squeezing the batch dim works for a batch of one only (PyTorch's squeeze skips other sizes).
TEST(OnnxExport, FixedBatchWhenARankFollowsTheBatch) {
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[1,3,4]) {
  %a = squeeze[dims=[0]](%x) @s
  %b = relu(%a) @r
  %y = unsqueeze[dim=0](%b) @u
  return(%y)
}
)IR", {});
  onnx::ModelProto mp = exporter::to_onnx(m, {});
  EXPECT_EQ(mp.graph().input(0).type().tensor_type().shape().dim(0).dim_value(), 1);
  EXPECT_EQ(mp.graph().output(0).type().tensor_type().shape().dim(0).dim_value(), 1);
}

TEST(OnnxExport, EveryOpsetValidates) {
  ir::Model m = net();
  for (int opset = exporter::kMinOpset; opset <= exporter::kMaxOpset; ++opset) {
    exporter::ExportOptions opts;
    opts.opset = opset;
    onnx::ModelProto mp;
    exporter::ExportSummary s;
    ASSERT_NO_THROW(mp = exporter::to_onnx(m, opts, &s)) << "opset " << opset;
    EXPECT_EQ(mp.opset_import(0).version(), opset);
    EXPECT_EQ(mp.ir_version(), exporter::ir_version_for(opset));
    // The ONNX library linked in (1.12) checks opsets <= 17; newer ones are said to be unchecked
    // (ORT checks them: OnnxOp.MatchesExecutorInOrt, ZooModelsMatchInOrt).
    EXPECT_EQ(exporter::onnx_library_max_opset(), 17);
    EXPECT_EQ(s.checked, opset <= 17) << "opset " << opset;
    if (opset <= 17) {
      EXPECT_NO_THROW(onnx::checker::check_model(mp)) << "opset " << opset;
      EXPECT_NE(s.check.find("checker"), std::string::npos) << s.check;
    } else {
      EXPECT_EQ(s.check, "not checked in-process: opset " + std::to_string(opset) +
                             " is newer than the ONNX library (1.12.0, opsets <= 17); ONNX Runtime is the check");
    }
  }
  EXPECT_EQ(exporter::ir_version_for(13), 7);
  EXPECT_EQ(exporter::ir_version_for(18), 8);
  EXPECT_EQ(exporter::ir_version_for(19), 9);
  EXPECT_EQ(exporter::ir_version_for(21), 10);
}

TEST(OnnxExport, RejectsOpsetsOutside13To21) {
  ir::Model m = net();
  test::TempDir dir;
  for (int opset : {12, 22}) {
    exporter::ExportOptions opts;
    opts.opset = opset;
    const std::string path = dir.file("o" + std::to_string(opset) + ".onnx");
    try {
      exporter::export_onnx(m, path, opts);
      ADD_FAILURE() << "opset " << opset << " accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()), "unsupported opset " + std::to_string(opset) + ": choose 13..21");
    }
    EXPECT_FALSE(fs::exists(path));
  }
}

TEST(OnnxExport, UnwritablePathIsAnInputErrorAndLeavesNoFile) {
  ir::Model m = net();
  test::TempDir dir;
  const std::string missing_dir = dir.file("no/such/dir/net.onnx");
  try {
    exporter::export_onnx(m, missing_dir, {});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing_dir), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(missing_dir));
  // A parent that is a file.
  std::ofstream(dir.file("plain")) << "x";
  const std::string under_file = dir.file("plain/net.onnx");
  EXPECT_THROW(exporter::export_onnx(m, under_file, {}), InputError);
  // Nothing but the plain file was left behind (no temporary files either).
  size_t count = 0;
  for (auto& e : fs::recursive_directory_iterator(dir.path())) {
    (void)e;
    ++count;
  }
  EXPECT_EQ(count, 1u);
}

TEST(OnnxExport, ReplacesAnExistingFileAtomically) {
  ir::Model m = net();
  test::TempDir dir;
  const std::string path = dir.file("net.onnx");
  std::ofstream(path) << "old";
  exporter::export_onnx(m, path, {});
  onnx::ModelProto mp = test::load_onnx(path);
  EXPECT_EQ(mp.producer_name(), "compress");
}

// An identity op named `name` in the op registry for the lifetime of the object.
test::ScopedRegistration identity_op(const std::string& name) {
  ir::register_core_ops();
  auto& reg = ir::OpRegistry::instance();
  ir::OpDef d;
  d.name = name;
  d.min_inputs = d.max_inputs = 1;
  d.shape = [](const ir::Node&, const std::vector<ir::TensorType>& in) { return std::vector<ir::TensorType>{in[0]}; };
  d.kernel = [](const ir::Node&, const std::vector<at::Tensor>& in, const ir::KernelContext&) {
    return std::vector<at::Tensor>{in[0]};
  };
  return test::ScopedRegistration([&] { reg.add(d); }, [&reg, name] { reg.remove(name); });
}

TEST(OnnxExport, UnmappedOpNamesOpAndScopeAndLeavesNoFile) {
  test::ScopedRegistration foo = identity_op("foo");
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[1,3]) {
  %a = relu(%x) @first
  %y = foo(%a) @bar
  return(%y)
}
)IR", {});
  test::TempDir dir;
  const std::string path = dir.file("foo.onnx");
  try {
    exporter::export_onnx(m, path, {});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("op 'foo' at scope 'bar' has no ONNX mapping"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
}

// A second mapping for an op is refused (naming both call sites) and leaves the first in place; a
// test's scoped mapping is gone after its scope.
TEST(OnnxExport, DuplicateMappingIsAnErrorAndScopedMappingsGoAway) {
  exporter::register_export_ops();
  auto& exports = exporter::ExportRegistry::instance();
  const exporter::ExportFn* relu = exports.find("relu");
  ASSERT_NE(relu, nullptr);
  try {
    exports.add("relu", [](const ir::Node&, exporter::ExportContext&) {});
    ADD_FAILURE() << "a second mapping of 'relu' was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("ONNX export mapping of op 'relu' is registered twice"), std::string::npos) << msg;
    EXPECT_NE(msg.find("first at ops/activation.cpp:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("again at export/onnx_export_test.cpp:"), std::string::npos) << msg;
  }
  EXPECT_EQ(exports.find("relu"), relu);
  {
    test::ScopedRegistration m([&] { exports.add("test_scoped", [](const ir::Node&, exporter::ExportContext&) {}); },
                               [&] { exports.remove("test_scoped"); });
    EXPECT_NE(exports.find("test_scoped"), nullptr);
  }
  EXPECT_EQ(exports.find("test_scoped"), nullptr);
}

// A model still in QAT form (binary_quant before the finetune converted it) is refused with how to fix.
TEST(OnnxExport, QatTrainingOpSaysToExportAfterTheFinetune) {
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[2,3]) {
  %w = param[name="fc.weight"]() @fc
  %wq = binary_quant(%w) @fc
  %y = linear(%x, %wq) @fc
  return(%y)
}
)IR", {{"fc.weight", {4, 3}}});
  test::TempDir dir;
  const std::string path = dir.file("qat.onnx");
  try {
    exporter::export_onnx(m, path, {});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("op 'binary_quant' at scope 'fc' is a quantization-aware-training op"),
              std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("export after that finetune stage"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
}

// A mapping that emits something invalid is caught by the checker before anything is written.
TEST(OnnxExport, CheckerFailureIsAnErrorAndLeavesNoFile) {
  test::ScopedRegistration op = identity_op("bogus_export");
  exporter::register_export_ops();
  auto& exports = exporter::ExportRegistry::instance();
  test::ScopedRegistration mapping(
      [&] {
        exports.add("bogus_export", [](const ir::Node& n, exporter::ExportContext& ctx) {
          ctx.node("NoSuchOnnxOp", {ctx.in(n, 0)}, {ctx.out(n)});
        });
      },
      [&] { exports.remove("bogus_export"); });
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[1,3]) {
  %y = bogus_export(%x) @b
  return(%y)
}
)IR", {});
  test::TempDir dir;
  const std::string path = dir.file("bogus.onnx");
  try {
    exporter::export_onnx(m, path, {});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NoSuchOnnxOp"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
}

// 7x8 -> 3x3 (no kernel fits): one Slice + ReduceMean per window of each axis (PyTorch's windows
// W [0,3) [2,6) [5,8), H [0,3) [2,5) [4,7)), a Concat per axis, nothing else; ORT against our
// executor is in onnx_ops_test.cpp.
TEST(OnnxExport, AdaptivePoolThatDoesNotDivideIsASlicePerWindow) {
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[1,3,7,8]) {
  %y = adaptive_avg_pool2d[output_size=[3,3]](%x) @features.pool
  return(%y)
}
)IR", {});
  onnx::ModelProto mp = exporter::to_onnx(m, {});
  std::map<std::string, int> hist;
  std::vector<std::vector<int64_t>> windows;
  std::map<std::string, std::vector<int64_t>> ints;
  for (const auto& t : mp.graph().initializer())
    if (t.data_type() == onnx::TensorProto::INT64 && t.dims_size() == 1 && t.dims(0) == 1)
      ints[t.name()] = {reinterpret_cast<const int64_t*>(t.raw_data().data())[0]};
  for (const auto& n : mp.graph().node()) {
    hist[n.op_type()]++;
    if (n.op_type() == "Slice") windows.push_back({ints.at(n.input(3))[0], ints.at(n.input(1))[0], ints.at(n.input(2))[0]});
  }
  EXPECT_EQ(hist, (std::map<std::string, int>{{"Slice", 6}, {"ReduceMean", 6}, {"Concat", 2}}));
  EXPECT_EQ(windows, (std::vector<std::vector<int64_t>>{{3, 0, 3}, {3, 2, 6}, {3, 5, 8}, {2, 0, 3}, {2, 2, 5}, {2, 4, 7}}));
}

// PyTorch drops the last ceil-mode window along H but not along W: no single ONNX ceil_mode fits
// when the padding is counted.
TEST(OnnxExport, AvgPoolMixedCeilModeIsAnError) {
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[1,3,5,10]) {
  %y = avg_pool2d[kernel=[2,3], stride=[2,2], padding=[1,1], ceil_mode=1, count_include_pad=1](%x) @pool
  return(%y)
}
)IR", {});
  try {
    exporter::to_onnx(m, {});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("op 'avg_pool2d' at scope 'pool'"), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, SharedTensorIsOneInitializer) {
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[1,4]) {
  %w1 = param[name="w"]() @a
  %h = linear(%x, %w1) @a
  %w2 = param[name="w"]() @b
  %y = linear(%h, %w2) @b
  return(%y, %h)
}
)IR", {{"w", {4, 4}}});
  onnx::ModelProto mp = exporter::to_onnx(m, {});
  EXPECT_EQ(mp.graph().initializer_size(), 1);
  ASSERT_EQ(mp.graph().output_size(), 2);
  EXPECT_EQ(mp.graph().output(0).name(), "output");
  EXPECT_EQ(mp.graph().output(1).name(), "output_1");
}

TEST(OnnxExport, LayerNormUsesLayerNormalizationFromOpset17) {
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[1,4,6]) {
  %y = layer_norm[normalized_shape=[6], eps=1e-05](%x) @ln
  return(%y)
}
)IR", {});
  auto ops = [&](int opset) {
    exporter::ExportOptions o;
    o.opset = opset;
    std::multiset<std::string> s;
    onnx::ModelProto mp = exporter::to_onnx(m, o);
    for (auto& n : mp.graph().node()) s.insert(n.op_type());
    return s;
  };
  EXPECT_EQ(ops(17).count("LayerNormalization"), 1u);
  EXPECT_EQ(ops(16).count("LayerNormalization"), 0u);
  EXPECT_EQ(ops(16).count("ReduceMean"), 2u);
}

// Below opset 17 the decomposed norm squares with Pow: ORT's LayerNormFusion matches that op only
// (with Mul(d, d) each norm stayed nine passes over the activations). Fused, and the same values.
TEST(OnnxExport, DecomposedLayerNormFusesInOrt) {
  ir::Model m = test::model_from_ir(R"IR(
graph(%x: f32[2,5,6]) {
  %w = param[name="w"]() @ln
  %b = param[name="b"]() @ln
  %y = layer_norm[normalized_shape=[6], eps=1e-05](%x, %w, %b) @ln
  return(%y)
}
)IR", {{"w", {6}}, {"b", {6}}});
  test::TempDir dir;
  const std::string path = dir.file("ln13.onnx");
  exporter::ExportOptions o;
  o.opset = 13;
  exporter::export_onnx(m, path, o);
  std::map<std::string, int> h = test::ort_optimized_histogram(path);
  EXPECT_EQ(h["LayerNormalization"], 1) << test::hist_str(h);
  EXPECT_EQ(h["ReduceMean"], 0) << test::hist_str(h);
  runtime::Executor ex(m);
  at::Tensor x = test::random_input(m, 2, 3) * 3 + 1;
  EXPECT_TRUE(test::close_to(ex.run1(x), test::run_ort(path, x)));
}

}  // namespace
}  // namespace mc

namespace mc {
namespace {

// The built-in zoo exports and runs the same in ORT, at batch 1 and 3, at every opset.
TEST(OnnxExport, ZooModelsMatchInOrt) {
  for (const std::string& name : frontend::zoo_names()) {
    SCOPED_TRACE(name);
    frontend::ZooOptions zo;
    zo.input_shape = {1, 3, 32, 32};
    ir::Model m = frontend::build_zoo(name, zo);
    test::TempDir dir;
    for (int opset : {13, 17, 21}) {
      exporter::ExportOptions opts;
      opts.opset = opset;
      const std::string path = dir.file(name + std::to_string(opset) + ".onnx");
      ASSERT_NO_THROW(exporter::export_onnx(m, path, opts));
      runtime::Executor ex(m);
      for (int64_t batch : {1, 3}) {
        at::Tensor x = test::random_input(m, batch, 11);
        EXPECT_TRUE(test::close_to(ex.run1(x), test::run_ort(path, x))) << "opset " << opset << " batch " << batch;
      }
    }
  }
}

// vit_tiny on Fashion-MNIST's shape with weights at 1/sqrt(fan_in) and a pronounced positional
// embedding, so that attention is far from uniform (fresh weights, std 0.02, would hide a wrong
// head layout): ORT == executor at opset 13 (LayerNormalization decomposed) and 17, batch 1 and 4;
// the dynamic batch survives the per-head reshapes (0 = copy the batch dim).
TEST(OnnxExport, VitTinyMatchesInOrtWithNonUniformAttention) {
  frontend::ZooOptions zo;
  ir::Model m = frontend::build_zoo("vit_tiny", zo);
  auto g = test::export_gen(5);
  for (auto& kv : m.tensors) {
    at::Tensor& t = kv.second;
    if (t.dim() >= 2) t = at::empty(t.sizes()).normal_(0, kv.first == "pos_embed" ? 0.5 : 1.0 / std::sqrt(double(t[0].numel())), g);
    if (t.dim() == 1) t = at::empty(t.sizes()).normal_(kv.first.find("norm") != std::string::npos ? 1.0 : 0.0, 0.1, g);
  }
  runtime::Executor ex(m);
  test::TempDir dir;
  for (int opset : {13, 17}) {
    exporter::ExportOptions opts;
    opts.opset = opset;
    const std::string path = dir.file("vit" + std::to_string(opset) + ".onnx");
    ASSERT_NO_THROW(exporter::export_onnx(m, path, opts));
    for (int64_t batch : {1, 4}) {
      at::Tensor x = test::random_input(m, batch, 12);
      EXPECT_TRUE(test::close_to(ex.run1(x), test::run_ort(path, x))) << "opset " << opset << " batch " << batch;
    }
  }
}

}  // namespace
}  // namespace mc
