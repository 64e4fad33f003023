// Codebook weights in the ONNX export (export/codebook_weights.h): a clustered model's conv / linear
// weights are written as a float32 codebook + 4- or 8-bit indices decoded by Gather, only where
// that makes the file smaller, and ONNX Runtime computes the same outputs as from the float32 file.
// The models are clustered here with plain LibTorch ops (no sharing/ code).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/mnist.h"
#include "export/export_test_util.h"
#include "export/onnx_export.h"
#include "runtime/executor.h"

namespace mc::test {
namespace {

namespace fs = std::filesystem;

/// Rounds `t` to `k` evenly spaced values between its min and max (a "linear" codebook).
at::Tensor round_to_levels(const at::Tensor& t, int64_t k) {
  const double lo = t.min().item<double>(), hi = t.max().item<double>(), step = (hi - lo) / static_cast<double>(k - 1);
  return (at::round((t.to(at::kDouble) - lo) / step) * step + lo).to(at::kFloat);
}

/// Every conv2d / linear weight of `m` rounded to `k` values.
void cluster_weights(ir::Model& m, int64_t k) {
  for (const ir::Node* n : m.graph.nodes()) {
    if (n->op() != "conv2d" && n->op() != "linear") continue;
    const std::string& name = n->input(1)->producer()->attrs().s("name");
    m.tensors[name] = round_to_levels(m.tensors.at(name), k);
    ASSERT_LE(std::get<0>(at::_unique2(m.tensors[name])).numel(), k);
  }
}

int count_op(const onnx::ModelProto& mp, const std::string& op) {
  int c = 0;
  for (const auto& n : mp.graph().node()) c += n.op_type() == op;
  return c;
}

/// The first `count` Fashion-MNIST test images, normalised as configs/transforms/fmnist_eval.yaml.
at::Tensor fmnist_images(int64_t count) {
  auto ds = data::open_mnist(data::kDefaultFashionMnistDir, "test", "fashion_mnist", "test");
  return ds->images().slice(0, 0, count).to(at::kFloat).div(255.0).sub(0.2860).div(0.3530).contiguous();
}

exporter::ExportSummary export_with(const ir::Model& m, const std::string& path, exporter::CodebookWeights mode) {
  exporter::ExportOptions o;
  o.codebook_weights = mode;
  return exporter::export_onnx(m, path, o);
}

TEST(CodebookExport, ClusteredResnet8IsAFifthOfTheFp32FileAndComputesTheSameInOrt) {
  ASSERT_TRUE(fs::exists(resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  ir::Model model = ir::Model::load(resnet8_fixture());
  cluster_weights(model, 16);
  // As the export stage does: batch-norm folding scales each output channel of a clustered conv
  // by its own factor, so its weights have <= 16 values per row, not per tensor.
  // As the export stage does. Batch-norm folding would scale each output channel of a clustered
  // conv by its own factor (16 values per row, not per tensor), so optimize_for_export keeps the
  // batch norms after the convs it writes as codebooks; the float32 export folds them all.
  ir::Model folded = model.clone(), copy = model.clone();
  exporter::optimize_for_export(folded, exporter::CodebookWeights::never);
  exporter::optimize_for_export(copy, exporter::CodebookWeights::automatic);

  TempDir dir;
  const std::string fp32 = dir.file("fp32.onnx"), cb = dir.file("codebook.onnx"), same = dir.file("same_graph.onnx");
  const exporter::ExportSummary plain = export_with(folded, fp32, exporter::CodebookWeights::never);
  const exporter::ExportSummary s = export_with(copy, cb, exporter::CodebookWeights::automatic);
  const exporter::ExportSummary same_graph = export_with(copy, same, exporter::CodebookWeights::never);
  const auto fp32_size = static_cast<int64_t>(fs::file_size(fp32)), cb_size = static_cast<int64_t>(fs::file_size(cb));
  std::printf("resnet8, 16 values per weight: fp32 file %lld bytes, codebook file %lld bytes (%.3fx), %lld codebook "
              "weights; computed fp32 size %lld, the same graph exported with float32 weights %lld\n",
              static_cast<long long>(fp32_size), static_cast<long long>(cb_size),
              static_cast<double>(cb_size) / static_cast<double>(fp32_size), static_cast<long long>(s.codebook_weights),
              static_cast<long long>(s.fp32_bytes), static_cast<long long>(same_graph.bytes));
  EXPECT_EQ(plain.codebook_weights, 0);
  EXPECT_EQ(plain.bytes, fp32_size);
  EXPECT_EQ(plain.fp32_bytes, fp32_size);
  EXPECT_EQ(s.bytes, cb_size);
  EXPECT_LE(cb_size, fp32_size / 5);
  // Every conv and the classifier but the 1-channel stem (144 weights: 576 bytes as float32, less
  // than the decoding nodes).
  EXPECT_EQ(s.codebook_weights, 9);
  const onnx::ModelProto mp = load_onnx(cb);
  EXPECT_EQ(count_op(mp, "Gather"), s.codebook_weights);
  // The batch norms after the 8 codebook convs stay unfolded (the stem's is folded); the float32
  // export folds every one.
  EXPECT_EQ(count_op(mp, "BatchNormalization"), 8);
  EXPECT_EQ(count_op(load_onnx(fp32), "BatchNormalization"), 0);
  // The computed float32 size is the same graph's float32 export's up to what the two name
  // differently: each conv reading a codebook is named "<scope>/Conv" instead of "<scope>" (5
  // bytes), and each codebook adds a shape constant for its Reshape (an int64[4] initializer and
  // its name, < 90 bytes), plus the shift and axis constants shared by all (< 90 bytes each).
  EXPECT_NEAR(static_cast<double>(s.fp32_bytes), static_cast<double>(same_graph.bytes),
              95.0 * static_cast<double>(s.codebook_weights) + 180.0);

  const at::Tensor x = fmnist_images(256);
  runtime::Executor ex(model);
  const at::Tensor ours = ex.run1(x);
  const at::Tensor ort_cb = run_ort(cb, x), ort_same = run_ort(same, x), ort_fp32 = run_ort(fp32, x);
  ASSERT_TRUE(ort_cb.defined() && ort_same.defined() && ort_fp32.defined());
  // The Gathers rebuild every weight bit for bit and ORT folds them into constants, so it runs the
  // same graph on the same weights as from the same graph's float32 file: bit for bit.
  EXPECT_TRUE(at::equal(ort_cb, ort_same)) << "max diff " << (ort_cb - ort_same).abs().max().item<double>();
  // Against our executor (unfolded batch norm, ATen's convolution) and against the folded float32
  // file: float32 sums of at most 64 x 9 = 576 products per output, summed in another order (and
  // the folding's rounding of w x gamma / sigma, 2^-24 relative); rounding errors of such sums grow
  // like sqrt(576) x 2^-24 ~ 1.4e-6 of the sum's magnitude per layer, and 8 layers in a row give
  // ~1e-5 of the largest logit at worst (measured: see the printout).
  std::printf("max |ORT - ours| / max |ours| = %.3g, max |ORT codebook - ORT fp32| / max |ours| = %.3g\n",
              ((ort_cb - ours).abs().max() / ours.abs().max()).item<double>(),
              ((ort_cb - ort_fp32).abs().max() / ours.abs().max()).item<double>());
  EXPECT_TRUE(close_to(ort_fp32, ort_cb, 1e-5));
  EXPECT_TRUE(close_to(ours, ort_cb, 1e-5));
  EXPECT_TRUE(at::equal(ort_cb.argmax(1), ours.argmax(1)));
}

// `auto` writes a codebook only where it is smaller than the float32 weight: a 4 x 4 weight with 2
// values (64 bytes) stays float32, a 32 x 16 x 3 x 3 one with 16 values (18 KB) becomes 4-bit
// indices, unclustered ones (random values) stay float32; `true` writes every weight with <= 256
// values per row as a codebook and its file is larger than auto's.
TEST(CodebookExport, AutoTakesTheCodebookOnlyWhereTheFileGetsSmaller) {
  const std::string ir = R"(graph(%x: f32[1,16,6,6]) {
  %w = param[name="c.weight"]() @c
  %y = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%x, %w) @c
  %v = param[name="d.weight"]() @d
  %z = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%y, %v) @d
  %f = flatten[start_dim=1](%z) @flat
  %s = param[name="s.weight"]() @s
  %t = matmul(%f, %s) @s
  %u = param[name="fc.weight"]() @fc
  %o = linear(%t, %u) @fc
  return(%o)
})";
  ir::Model m = model_from_ir(ir, {{"c.weight", {32, 16, 3, 3}}, {"d.weight", {16, 32, 3, 3}}, {"s.weight", {576, 4}},
                                   {"fc.weight", {4, 4}}});
  m.tensors["c.weight"] = round_to_levels(m.tensors["c.weight"], 16);
  m.tensors["fc.weight"] = (m.tensors["fc.weight"] > 0).to(at::kFloat) * 0.5 - 0.25;  // 2 values
  TempDir dir;
  const exporter::ExportSummary never = export_with(m, dir.file("never.onnx"), exporter::CodebookWeights::never);
  const exporter::ExportSummary automatic = export_with(m, dir.file("auto.onnx"), exporter::CodebookWeights::automatic);
  const exporter::ExportSummary always = export_with(m, dir.file("always.onnx"), exporter::CodebookWeights::always);
  EXPECT_EQ(never.codebook_weights, 0);
  EXPECT_EQ(automatic.codebook_weights, 1);  // c.weight only
  // c.weight, fc.weight and s.weight (random, but only 4 values per row: 576 codebooks of 4);
  // d.weight has 288 distinct values per row
  EXPECT_EQ(always.codebook_weights, 3);
  EXPECT_LT(automatic.bytes, never.bytes);
  EXPECT_LT(automatic.bytes, always.bytes);
  const onnx::ModelProto mp = load_onnx(dir.file("auto.onnx"));
  bool fc_float = false, c_float = false;
  for (const auto& t : mp.graph().initializer()) {
    fc_float |= t.name() == "fc.weight" && t.data_type() == onnx::TensorProto_DataType_FLOAT;
    c_float |= t.name() == "c.weight";
  }
  EXPECT_TRUE(fc_float);
  EXPECT_FALSE(c_float);

  const at::Tensor x = random_input(m, 3, 11);
  runtime::Executor ex(m);
  const at::Tensor ours = ex.run1(x);
  const at::Tensor ref = run_ort(dir.file("never.onnx"), x);
  // The same weights bit for bit, so ORT computes the same as from the float32 file.
  for (const char* f : {"auto.onnx", "always.onnx"}) {
    const at::Tensor got = run_ort(dir.file(f), x);
    ASSERT_TRUE(got.defined() && ref.defined()) << f;
    EXPECT_TRUE(at::equal(got, ref)) << f;
  }
  EXPECT_TRUE(close_to(ours, ref, 1e-5));  // sums of <= 288 products, 3 layers: as above
}

// An odd number of weights with <= 16 values: the packed indices hold one padding nibble, cut off
// by a Slice; and per-row codebooks (each row its own 3 values, > 256 in all).
TEST(CodebookExport, OddCountsAndPerRowCodebooksDecodeExactly) {
  const std::string ir = R"(graph(%x: f32[2,3,7,7]) {
  %w = param[name="c.weight"]() @c
  %y = conv2d[stride=[1,1], padding=[0,0], dilation=[1,1], groups=1](%x, %w) @c
  %f = flatten[start_dim=1](%y) @flat
  %u = param[name="fc.weight"]() @fc
  %o = linear(%f, %u) @fc
  return(%o)
})";
  ir::Model m = model_from_ir(ir, {{"c.weight", {5, 3, 3, 3}}, {"fc.weight", {300, 125}}});
  m.tensors["c.weight"] = round_to_levels(m.tensors["c.weight"], 7);  // 135 weights, odd
  // row r: values {-1, 0, 1} x (1 + r / 7)
  at::Tensor levels = at::randint(-1, 2, {300, 125}, export_gen(3)).to(at::kFloat);
  m.tensors["fc.weight"] = levels * (1 + at::arange(300, at::kFloat).div(7)).unsqueeze(1);
  TempDir dir;
  const exporter::ExportSummary s = export_with(m, dir.file("m.onnx"), exporter::CodebookWeights::always);
  EXPECT_EQ(s.codebook_weights, 2);
  const onnx::ModelProto mp = load_onnx(dir.file("m.onnx"));
  EXPECT_EQ(count_op(mp, "Slice"), 1);
  EXPECT_EQ(count_op(mp, "Add"), 1);  // the row offsets of fc.weight
  const at::Tensor x = random_input(m, 2, 5);
  runtime::Executor ex(m);
  EXPECT_TRUE(close_to(ex.run1(x), run_ort(dir.file("m.onnx"), x), 1e-5));
  exporter::export_onnx(m, dir.file("f.onnx"), [] {
    exporter::ExportOptions o;
    o.codebook_weights = exporter::CodebookWeights::never;
    return o;
  }());
  EXPECT_TRUE(at::equal(run_ort(dir.file("m.onnx"), x), run_ort(dir.file("f.onnx"), x)));
}

// Through `compress`: the cluster stage (4 bits) then export; the report gives the file's size beside
// the float32 size (details and report.md), and `codebook_weights` is checked like every option.
TEST(CodebookExport, ExportStageReportsTheFileSizeBesideTheFloat32Size) {
  ASSERT_TRUE(fs::exists(resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  TempDir d;
  auto recipe = [&](const std::string& value) {
    return "name: cb\nseed: 0\nthreads: 1\nmodel: {checkpoint: " + resnet8_fixture() +
           ", input: {shape: [1, 1, 28, 28]}}\nstages:\n  - cluster: {bits: 4}\n  - export: {onnx: m.onnx, "
           "ort_eval: false, codebook_weights: " + value + "}\nreport: {formats: [json, md], latency: false, "
           "per_layer: false}\n";
  };
  RunResult bad = run_compress("validate " + d.write("bad.yaml", recipe("maybe")));
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("bad.yaml:7:"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("codebook_weights"), std::string::npos) << bad.out;

  for (const char* mode : {"auto", "false"}) {
    const std::string run = d.file(std::string("run_") + mode);
    RunResult r = run_compress("--recipe " + d.write(std::string(mode) + ".yaml", recipe(mode)) + " --out " + run + " -q");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const nlohmann::json details = read_json(run + "/report.json")["stages"][2]["details"];  // stage 0: the load
    const int64_t bytes = details.at("bytes").get<int64_t>(), fp32 = details.at("bytes_fp32").get<int64_t>();
    EXPECT_EQ(bytes, static_cast<int64_t>(fs::file_size(run + "/m.onnx")));
    std::printf("export stage, codebook_weights %s: %lld bytes, %lld with float32 weights\n", mode,
                static_cast<long long>(bytes), static_cast<long long>(fp32));
    std::ifstream md(run + "/report.md");
    std::stringstream text;
    text << md.rdbuf();
    EXPECT_NE(text.str().find("- ONNX file of stage 2 export (`m.onnx`): "), std::string::npos) << text.str();
    if (std::string(mode) == "false") {
      EXPECT_EQ(details.at("codebook_weights"), 0);
      EXPECT_EQ(bytes, fp32);
    } else {
      EXPECT_GE(details.at("codebook_weights").get<int64_t>(), 8);
      EXPECT_LE(bytes * 5, fp32);
      EXPECT_NE(text.str().find("x smaller"), std::string::npos) << text.str();
    }
  }
}

}  // namespace
}  // namespace mc::test
