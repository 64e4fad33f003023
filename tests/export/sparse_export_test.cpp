// Sparse initializers in the ONNX export (export/sparse_initializers.h): pruned weights written as
// SparseTensorProto (non-zero values + int64 linearized positions) where that makes the file
// smaller, the file checked by ONNX's checker and run by ONNX Runtime, which densifies them when it
// loads the file and so computes what the dense file computes. The models are pruned here with plain
// LibTorch ops (no pruning/ code).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "export/export_test_util.h"
#include "export/onnx_export.h"
#include "runtime/executor.h"

namespace mc::test {
namespace {

namespace fs = std::filesystem;

/// Zeroes the `sparsity` fraction of smallest |w| of every conv2d / linear weight of `m`.
void prune_weights(ir::Model& m, double sparsity) {
  for (const ir::Node* n : m.graph.nodes()) {
    if (n->op() != "conv2d" && n->op() != "linear") continue;
    const std::string& name = n->input(1)->producer()->attrs().s("name");
    at::Tensor w = m.tensors.at(name);
    const auto k = static_cast<int64_t>(sparsity * static_cast<double>(w.numel()));
    const double threshold = std::get<0>(w.abs().reshape({-1}).kthvalue(k)).item<double>();
    m.tensors[name] = at::where(w.abs() <= threshold, at::zeros_like(w), w);
  }
}

exporter::ExportSummary export_with(const ir::Model& m, const std::string& path, exporter::SparseInitializers sparse,
                                    exporter::CodebookWeights codebook = exporter::CodebookWeights::never) {
  exporter::ExportOptions o;
  o.sparse_initializers = sparse;
  o.codebook_weights = codebook;
  return exporter::export_onnx(m, path, o);
}

int64_t file_size(const std::string& p) { return static_cast<int64_t>(fs::file_size(p)); }

/// A seeded normal batch: the weights, not the data, are what the files differ in.
at::Tensor input(const ir::Model& m) { return random_input(m, 64, 7); }

TEST(SparseExport, Pruned90Resnet8IsSmallerAndOrtComputesWhatTheDenseFileComputes) {
  ASSERT_TRUE(fs::exists(resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  ir::Model model = ir::Model::load(resnet8_fixture());
  exporter::optimize_for_export(model);  // batch norms folded, as the export stage does
  prune_weights(model, 0.9);
  int64_t weights = 0, nonzero = 0, numel = 0;
  for (const ir::Node* n : model.graph.nodes())
    if (n->op() == "conv2d" || n->op() == "linear") {
      const at::Tensor& w = model.tensors.at(n->input(1)->producer()->attrs().s("name"));
      ++weights;
      nonzero += w.ne(0).sum().item<int64_t>();
      numel += w.numel();
    }

  TempDir dir;
  const std::string dense = dir.file("dense.onnx"), sparse = dir.file("sparse.onnx");
  const exporter::ExportSummary d = export_with(model, dense, exporter::SparseInitializers::never);
  const exporter::ExportSummary s = export_with(model, sparse, exporter::SparseInitializers::automatic);
  std::printf("resnet8, 90 %% of each conv/fc weight zero: dense file %lld bytes, sparse %lld bytes (%.3fx), %lld "
              "sparse initializers of %lld weights\n",
              static_cast<long long>(d.bytes), static_cast<long long>(s.bytes),
              static_cast<double>(s.bytes) / static_cast<double>(d.bytes), static_cast<long long>(s.sparse_initializers),
              static_cast<long long>(weights));
  EXPECT_EQ(d.sparse_initializers, 0);
  EXPECT_EQ(s.sparse_initializers, weights) << "at 10 % density every weight is smaller sparse";
  EXPECT_EQ(file_size(dense), d.bytes);
  EXPECT_EQ(file_size(sparse), s.bytes);
  EXPECT_EQ(s.dense_bytes, d.bytes) << "the same graph with its sparse initializers dense is the dense file";
  EXPECT_EQ(s.fp32_bytes, d.bytes);
  // Each non-zero float32 costs 4 bytes + its position as a varint (<= 3 bytes below 2^21, the
  // largest weight here has 36,864 elements), each zero nothing: the weights shrink to at most
  // nonzero x 7 bytes (+ a few dozen bytes of headers per tensor).
  EXPECT_LE(s.bytes, d.bytes - 4 * numel + 7 * nonzero + 64 * weights)
      << "dense weights (4 x numel) replaced by at most 7 bytes per non-zero";

  const onnx::ModelProto mp = load_onnx(sparse);
  int64_t values = 0;
  for (const auto& sp : mp.graph().sparse_initializer()) {
    ASSERT_EQ(sp.indices().data_type(), onnx::TensorProto_DataType_INT64);
    ASSERT_EQ(sp.indices().dims_size(), 1) << "linearized [NNZ] positions";
    EXPECT_EQ(sp.indices().int64_data_size(), sp.values().dims(0));
    EXPECT_EQ(sp.dims_size(), 4 - (sp.values().name().find("fc") != std::string::npos ? 2 : 0)) << sp.values().name();
    values += sp.values().dims(0);
  }
  EXPECT_EQ(values, nonzero) << "every non-zero weight written once, no zero written";

  const at::Tensor x = input(model);
  const at::Tensor ort_dense = run_ort(dense, x), ort_sparse = run_ort(sparse, x);
  ASSERT_TRUE(ort_dense.defined() && ort_sparse.defined());
  // ORT densifies the sparse initializers at load: the same weights, the same graph, bit for bit.
  EXPECT_TRUE(at::equal(ort_dense, ort_sparse)) << "max diff " << (ort_dense - ort_sparse).abs().max().item<double>();
  // Against our executor: float32 sums in another order, as for every export (export_test_util.h
  // close_to; the codebook export test derives 1e-5 of the largest logit for this model).
  const at::Tensor ours = runtime::Executor(model).run1(x);
  EXPECT_TRUE(close_to(ours, ort_sparse, 1e-5));
}

// `auto` writes a weight sparse only where its sparse form is smaller: a 95 %-zero weight becomes
// sparse, a 30 %-zero one stays dense (70 % density: 4 + 2 bytes per non-zero = 4.2 bytes per
// weight against 4), a weight without zeros stays dense even under `true`; `true` writes the
// 30 %-zero one sparse too, and that file is larger than auto's.
TEST(SparseExport, AutoKeepsDenseWhereSparseWouldBeLarger) {
  const std::string ir = R"(graph(%x: f32[1,16,6,6]) {
  %w = param[name="a.weight"]() @a
  %y = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%x, %w) @a
  %v = param[name="b.weight"]() @b
  %z = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%y, %v) @b
  %u = param[name="c.weight"]() @c
  %o = conv2d[stride=[1,1], padding=[1,1], dilation=[1,1], groups=1](%z, %u) @c
  return(%o)
})";
  ir::Model m = model_from_ir(ir, {{"a.weight", {32, 16, 3, 3}}, {"b.weight", {32, 32, 3, 3}}, {"c.weight", {8, 32, 3, 3}}});
  auto zero_fraction = [&m](const std::string& name, double f) {
    at::Tensor w = m.tensors.at(name);
    const double t = std::get<0>(w.abs().reshape({-1}).kthvalue(static_cast<int64_t>(f * w.numel()))).item<double>();
    m.tensors[name] = at::where(w.abs() <= t, at::zeros_like(w), w);
  };
  zero_fraction("a.weight", 0.95);
  zero_fraction("b.weight", 0.3);
  ASSERT_EQ(m.tensors.at("c.weight").eq(0).sum().item<int64_t>(), 0);
  TempDir dir;
  const auto never = export_with(m, dir.file("never.onnx"), exporter::SparseInitializers::never);
  const auto automatic = export_with(m, dir.file("auto.onnx"), exporter::SparseInitializers::automatic);
  const auto always = export_with(m, dir.file("always.onnx"), exporter::SparseInitializers::always);
  EXPECT_EQ(never.sparse_initializers, 0);
  EXPECT_EQ(automatic.sparse_initializers, 1);
  EXPECT_EQ(always.sparse_initializers, 2);
  EXPECT_LT(automatic.bytes, never.bytes);
  EXPECT_LT(automatic.bytes, always.bytes);
  EXPECT_EQ(automatic.dense_bytes, never.bytes);
  EXPECT_EQ(always.dense_bytes, never.bytes);
  const onnx::ModelProto mp = load_onnx(dir.file("auto.onnx"));
  ASSERT_EQ(mp.graph().sparse_initializer_size(), 1);
  EXPECT_EQ(mp.graph().sparse_initializer(0).values().name(), "a.weight");
  const at::Tensor x = random_input(m, 2, 3);
  const at::Tensor a = run_ort(dir.file("never.onnx"), x), b = run_ort(dir.file("always.onnx"), x);
  ASSERT_TRUE(a.defined() && b.defined());
  EXPECT_TRUE(at::equal(a, b));
}

// A pruned and clustered weight (16 values, 0 among them): the codebook puts 0 at entry 0, so the
// pruned weights are index 0 and the 4-bit indices can be written sparse too. Per weight the export
// takes the smaller of the sparse float32 weight and the codebook (indices dense or sparse): the
// file is smaller than with either form alone.
TEST(SparseExport, PrunedClusteredWeightsTakeTheSmallestForm) {
  ASSERT_TRUE(fs::exists(resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  ir::Model model = ir::Model::load(resnet8_fixture());
  exporter::optimize_for_export(model);
  prune_weights(model, 0.9);
  for (const ir::Node* n : model.graph.nodes()) {  // 15 levels for the non-zero weights, 0 the 16th
    if (n->op() != "conv2d" && n->op() != "linear") continue;
    const std::string& name = n->input(1)->producer()->attrs().s("name");
    at::Tensor w = model.tensors.at(name);
    const double lo = w.min().item<double>(), hi = w.max().item<double>(), step = (hi - lo) / 14.0;
    at::Tensor r = (at::round((w.to(at::kDouble) - lo) / step) * step + lo).to(at::kFloat);
    model.tensors[name] = at::where(w == 0, at::zeros_like(w), r);
    ASSERT_LE(std::get<0>(at::_unique2(model.tensors[name])).numel(), 16);
  }
  TempDir dir;
  const auto sparse = export_with(model, dir.file("sparse.onnx"), exporter::SparseInitializers::automatic);
  const auto codebook = export_with(model, dir.file("codebook.onnx"), exporter::SparseInitializers::never,
                                    exporter::CodebookWeights::automatic);
  const auto both = export_with(model, dir.file("both.onnx"), exporter::SparseInitializers::automatic,
                                exporter::CodebookWeights::automatic);
  std::printf("pruned 90 %% + 16 values: sparse float32 %lld bytes, codebook %lld, codebook + sparse indices %lld "
              "(%lld codebooks, %lld sparse initializers)\n",
              static_cast<long long>(sparse.bytes), static_cast<long long>(codebook.bytes),
              static_cast<long long>(both.bytes), static_cast<long long>(both.codebook_weights),
              static_cast<long long>(both.sparse_initializers));
  // Measured: the 4 largest weights (layer2/3 convs, 4,608..36,864 weights) as codebooks with sparse
  // 4-bit indices, the 6 small ones (the codebook's decoding nodes cost more than it saves) as
  // sparse float32: every weight in one sparse form or the other.
  EXPECT_GT(both.codebook_weights, 0);
  EXPECT_LT(both.codebook_weights, 10);
  EXPECT_EQ(both.sparse_initializers, 10);
  EXPECT_LT(both.bytes, sparse.bytes);
  EXPECT_LT(both.bytes, codebook.bytes);
  const onnx::ModelProto mp = load_onnx(dir.file("both.onnx"));
  int64_t sparse_indices = 0;
  for (const auto& sp : mp.graph().sparse_initializer()) {
    const std::string& name = sp.values().name();
    sparse_indices += name.size() > 9 && name.compare(name.size() - 9, 9, "_indices4") == 0;
  }
  EXPECT_EQ(sparse_indices, both.codebook_weights) << "every codebook's 4-bit indices are sparse";
  const at::Tensor x = input(model);
  const at::Tensor a = run_ort(dir.file("sparse.onnx"), x), b = run_ort(dir.file("both.onnx"), x);
  ASSERT_TRUE(a.defined() && b.defined());
  EXPECT_TRUE(at::equal(a, b)) << "max diff " << (a - b).abs().max().item<double>();
}

// Through `compress`: prune 90 % of every layer then export with sparse_initializers auto and false; the stage's
// details and report.md give the file's bytes beside the bytes with dense initializers; `compress
// export --sparse-initializers` writes the same form from the pruned checkpoint; bad values are
// exit 2 (the recipe's at file:line:col).
TEST(SparseExport, ExportStageAndCliReportTheBytes) {
  ASSERT_TRUE(fs::exists(resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  TempDir d;
  auto recipe = [&](const std::string& value) {
    return "name: sp\nseed: 0\nthreads: 1\nmodel: {checkpoint: " + resnet8_fixture() +
           ", input: {shape: [1, 1, 28, 28]}}\nstages:\n  - prune: {sparsity: 0.9, scope: layer}\n  - export: {onnx: m.onnx, "
           "ort_eval: false, codebook_weights: false, sparse_initializers: " + value +
           "}\nreport: {formats: [json, md], latency: false, per_layer: false}\n";
  };
  RunResult bad = run_compress("validate " + d.write("bad.yaml", recipe("maybe")));
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("bad.yaml:7:"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("sparse_initializers"), std::string::npos) << bad.out;

  std::map<std::string, int64_t> size;
  int64_t dense_of_auto = 0;
  for (const char* mode : {"auto", "false"}) {
    const std::string run = d.file(std::string("run_") + mode);
    RunResult r = run_compress("--recipe " + d.write(std::string(mode) + ".yaml", recipe(mode)) + " --out " + run + " -q");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const nlohmann::json details = read_json(run + "/report.json")["stages"][2]["details"];  // stage 0: the load
    const int64_t bytes = details.at("bytes").get<int64_t>(), dense = details.at("bytes_dense").get<int64_t>();
    EXPECT_EQ(bytes, static_cast<int64_t>(fs::file_size(run + "/m.onnx")));
    EXPECT_EQ(details.at("bytes_fp32").get<int64_t>(), dense) << "no codebook, no QDQ: float32 = dense";
    size[mode] = bytes;
    if (std::string(mode) == "auto") dense_of_auto = dense;
    std::ifstream md(run + "/report.md");
    std::stringstream text;
    text << md.rdbuf();
    if (std::string(mode) == "false") {
      EXPECT_EQ(details.at("sparse_initializers"), 0);
      EXPECT_EQ(bytes, dense);
      EXPECT_EQ(text.str().find("sparse initializers"), std::string::npos) << text.str();
    } else {
      EXPECT_EQ(details.at("sparse_initializers"), 10) << "9 convs and the fc at 90 %";
      EXPECT_LT(bytes * 4, dense);
      EXPECT_NE(text.str().find("; 10 sparse initializers, "), std::string::npos) << text.str();
    }
  }
  EXPECT_EQ(dense_of_auto, size["false"]) << "the same graph and metadata (the recipe hashes have the same length)";

  const std::string ckpt = d.file("run_auto/ckpt/01_prune.mcm");
  RunResult cli = run_compress("export " + ckpt + " --onnx " + d.file("cli.onnx") +
                               " --codebook-weights false --sparse-initializers auto");
  ASSERT_EQ(cli.exit_code, 0) << cli.out;
  EXPECT_EQ(load_onnx(d.file("cli.onnx")).graph().sparse_initializer_size(), 10);
  EXPECT_LT(static_cast<int64_t>(fs::file_size(d.file("cli.onnx"))) * 4, size["false"]);
  RunResult cli_bad = run_compress("export " + ckpt + " --onnx " + d.file("bad.onnx") + " --sparse-initializers maybe");
  EXPECT_EQ(cli_bad.exit_code, 2) << cli_bad.out;
  EXPECT_FALSE(fs::exists(d.file("bad.onnx")));
}

// A pruned then PTQ-quantized resnet8: the QDQ export's int8 weight integers are written sparse
// where smaller, and ONNX Runtime still runs every conv, add, pool and the classifier in integer
// (it densifies the integers at load, before its QDQ fusions) with outputs bit-identical to the
// dense QDQ file's.
TEST(SparseExport, QdqInt8WeightsGoSparseAndOrtStillRunsThemInInteger) {
  ASSERT_TRUE(fs::exists(resnet8_fixture())) << "run ctest -R fixtures.resnet8_fmnist first";
  TempDir d;
  const std::string r = d.write("r.yaml", "name: q\nseed: 0\nthreads: 2\nmodel: {checkpoint: " + resnet8_fixture() +
                                              "}\ndata:\n  train: {dataset: fashion_mnist, limit: 512, batch_size: 128, "
                                              "transform: fmnist_eval}\n  calib: {from: train, samples: 256}\n"
                                              "stages:\n  - prune: {sparsity: 0.9, scope: layer}\n"
                                              "  - quantize: {mode: ptq, activations: {qscheme: per_tensor_affine, dtype: quint8}}\n"
                                              "  - export: {onnx: dense.onnx, ort_eval: false}\n"
                                              "  - export: {onnx: sparse.onnx, ort_eval: false, sparse_initializers: auto}\n"
                                              "report: {formats: [json], latency: false}\n");
  auto res = run_compress("--recipe " + r + " --out " + d.file("run") + " -q");
  ASSERT_EQ(res.exit_code, 0) << res.out;
  const nlohmann::json stages = read_json(d.file("run/report.json"))["stages"];
  const nlohmann::json& dense = stages[3]["details"];
  const nlohmann::json& sparse = stages[4]["details"];
  std::printf("pruned 90 %% + PTQ: QDQ file %lld bytes dense, %lld with %lld sparse initializers\n",
              static_cast<long long>(dense["bytes"].get<int64_t>()), static_cast<long long>(sparse["bytes"].get<int64_t>()),
              static_cast<long long>(sparse["sparse_initializers"].get<int64_t>()));
  EXPECT_EQ(sparse["quantized_weights"], 10);
  EXPECT_GT(sparse["sparse_initializers"].get<int64_t>(), 0);
  EXPECT_EQ(sparse["bytes_dense"], dense["bytes"]);
  EXPECT_LT(sparse["bytes"].get<int64_t>() * 2, dense["bytes"].get<int64_t>());
  const onnx::ModelProto mp = load_onnx(d.file("run/sparse.onnx"));
  for (const auto& sp : mp.graph().sparse_initializer())
    EXPECT_EQ(sp.values().data_type(), onnx::TensorProto_DataType_INT8) << sp.values().name() << ": the QDQ integers";
  const auto h_dense = ort_optimized_histogram(d.file("run/dense.onnx"));
  const auto h_sparse = ort_optimized_histogram(d.file("run/sparse.onnx"));
  EXPECT_EQ(h_sparse, h_dense) << hist_str(h_sparse) << " vs " << hist_str(h_dense);
  EXPECT_EQ(h_sparse.count("com.microsoft.QLinearConv") ? h_sparse.at("com.microsoft.QLinearConv") : 0, 9)
      << hist_str(h_sparse);
  const ir::Model m = ir::Model::load(d.file("run/ckpt/02_quantize.mcm"));
  const at::Tensor x = random_input(m, 16, 5);
  const at::Tensor a = run_ort(d.file("run/dense.onnx"), x), b = run_ort(d.file("run/sparse.onnx"), x);
  ASSERT_TRUE(a.defined() && b.defined());
  EXPECT_TRUE(at::equal(a, b)) << "max diff " << (a - b).abs().max().item<double>();
}

}  // namespace
}  // namespace mc::test
