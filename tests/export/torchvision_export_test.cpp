// torchvision models (fixtures made by tests/fixtures/make_torchvision.py), traced and scripted:
// imported, cleaned up (ir::passes::optimize, as `compress export` does), exported to ONNX
// (opset 13, dynamic batch) and run in ONNX Runtime at optimization
// level 'all'; the output must equal TorchScript's (<model>.output.npy) within
// 1e-4 x max |output|.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include <torch/script.h>

#include "data/npy.h"
#include "export/onnx_export.h"
#include "export/tensorrt_check.h"
#include "export_test_util.h"
#include "frontend/frontend.h"
#include "runtime/executor.h"
#include "ir/passes/optimize.h"
#include "support/test_env.h"

namespace mc {
namespace {

namespace fs = std::filesystem;

struct TvCase {
  std::string model;
  std::string kind;  // traced | scripted
};

// Readable names in ctest (gtest_discover_tests prints the parameter).
void PrintTo(const TvCase& c, std::ostream* os) { *os << c.model << "." << c.kind; }

std::vector<TvCase> tv_cases() {
  std::vector<TvCase> v;
  for (const char* m : {"resnet18", "mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x0_5", "efficientnet_b0",
                        "densenet121", "convnext_tiny", "resnet50"})
    for (const char* k : {"traced", "scripted"}) v.push_back({m, k});
  return v;
}

class TorchvisionExport : public ::testing::TestWithParam<TvCase> {};

TEST_P(TorchvisionExport, OrtMatchesTorchScript) {
  const TvCase& c = GetParam();
  const std::string base = test::fixture_dir() + "/" + c.model;
  const std::string pt = base + "." + c.kind + ".pt";
  ASSERT_TRUE(fs::exists(pt)) << pt << " is missing: run the fixtures.torchvision test (ctest) or "
                              << "tests/fixtures/make_torchvision.py --out " << test::fixture_dir();
  at::Tensor x = data::read_npy(base + ".input.npy");
  at::Tensor ref = data::read_npy(base + ".output.npy");

  auto t0 = std::chrono::steady_clock::now();
  frontend::ImportOptions io;
  io.input_shape.assign(x.sizes().begin(), x.sizes().end());
  ir::Model m = frontend::import_torchscript(pt, io);
  ir::passes::optimize(m);  // as `compress export` does by default
  test::TempDir dir;
  const std::string onnx = dir.file(c.model + "." + c.kind + ".onnx");
  exporter::ExportOptions opts;
  opts.producer_version = "test";
  ASSERT_NO_THROW(exporter::export_onnx(m, onnx, opts));
  auto t1 = std::chrono::steady_clock::now();

  onnx::ModelProto mp = test::load_onnx(onnx);
  EXPECT_EQ(mp.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch")
      << "the export of " << c.model << " has a fixed batch size";
  at::Tensor got = test::run_ort(onnx, x, "all");
  auto t2 = std::chrono::steady_clock::now();
  EXPECT_TRUE(test::close_to(ref, got)) << c.model << " (" << c.kind << ")";

  // The batch dim is symbolic: a batch of 3 gives what our executor gives.
  at::Tensor x3 = at::cat({x, x.flip(-1), x * 0.5});
  runtime::Executor ex(m);
  at::Tensor ours3 = ex.run1(x3);
  EXPECT_TRUE(test::close_to(ours3, test::run_ort(onnx, x3, "all"))) << c.model << " (" << c.kind << ") at batch 3";
  auto t3 = std::chrono::steady_clock::now();
  using ms = std::chrono::milliseconds;
  std::cout << "[ timing ] " << c.model << "." << c.kind << ": import+export "
            << std::chrono::duration_cast<ms>(t1 - t0).count() << " ms, ORT "
            << std::chrono::duration_cast<ms>(t2 - t1).count() << " ms, batch 3 "
            << std::chrono::duration_cast<ms>(t3 - t2).count() << " ms\n";
}

// ConvNeXt's layer norms become LayerNormalization nodes at opset 17.
TEST(TorchvisionExportOpset17, ConvnextTiny) {
  const std::string base = test::fixture_dir() + "/convnext_tiny";
  ASSERT_TRUE(fs::exists(base + ".traced.pt")) << "run the fixtures.torchvision test first";
  at::Tensor x = data::read_npy(base + ".input.npy");
  frontend::ImportOptions io;
  io.input_shape.assign(x.sizes().begin(), x.sizes().end());
  ir::Model m = frontend::import_torchscript(base + ".traced.pt", io);
  ir::passes::optimize(m);
  test::TempDir dir;
  const std::string onnx = dir.file("convnext17.onnx");
  exporter::ExportOptions opts;
  opts.opset = 17;
  ASSERT_NO_THROW(exporter::export_onnx(m, onnx, opts));
  onnx::ModelProto mp = test::load_onnx(onnx);
  int ln = 0;
  for (auto& n : mp.graph().node()) ln += n.op_type() == "LayerNormalization";
  EXPECT_GT(ln, 0);
  EXPECT_TRUE(test::close_to(data::read_npy(base + ".output.npy"), test::run_ort(onnx, x, "all")));
}

INSTANTIATE_TEST_SUITE_P(Models, TorchvisionExport, ::testing::ValuesIn(tv_cases()),
                         [](const ::testing::TestParamInfo<TvCase>& i) { return i.param.model + "_" + i.param.kind; });

// Swin Transformer (fixture swin_small): the relative position bias tables are Gathers of trained
// initializers; ORT equals TorchScript (<model>.output.npy) within 1e-4 x max |output|, and at
// batch 3 (the batch dim is symbolic) equals our executor and TorchScript.
class SwinExport : public ::testing::TestWithParam<std::string> {};

TEST_P(SwinExport, OrtMatchesTorchScript) {
  const std::string base = test::fixture_dir() + "/swin_small";
  const std::string pt = base + "." + GetParam() + ".pt";
  ASSERT_TRUE(fs::exists(pt)) << pt << " is missing: run tests/fixtures/make_torchvision.py --models swin --out "
                              << test::fixture_dir();
  at::Tensor x = data::read_npy(base + ".input.npy");
  at::Tensor ref = data::read_npy(base + ".output.npy");
  frontend::ImportOptions io;
  io.input_shape.assign(x.sizes().begin(), x.sizes().end());
  ir::Model m = frontend::import_torchscript(pt, io);
  ir::passes::optimize(m);
  test::TempDir dir;
  const std::string onnx = dir.file("swin_small.onnx");
  exporter::ExportOptions opts;
  opts.producer_version = "test";
  ASSERT_NO_THROW(exporter::export_onnx(m, onnx, opts));
  onnx::ModelProto mp = test::load_onnx(onnx);
  int gathers = 0;
  for (const auto& n : mp.graph().node()) gathers += n.op_type() == "Gather";
  EXPECT_GE(gathers, 4) << "one Gather per block's relative position bias table";
  at::Tensor got = test::run_ort(onnx, x, "all");
  EXPECT_TRUE(test::close_to(ref, got)) << "ORT\n" << got << "\nPyTorch\n" << ref;
  EXPECT_TRUE(test::close_to(runtime::Executor(m).run1(x), got)) << "ORT against our executor";
  EXPECT_EQ(mp.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  at::Tensor x3 = at::cat({x, x.flip(-1), x * 0.5});
  at::Tensor got3 = test::run_ort(onnx, x3, "all");
  EXPECT_TRUE(test::close_to(runtime::Executor(m).run1(x3), got3)) << "at batch 3, against our executor";
  torch::jit::Module ts = torch::jit::load(pt);
  EXPECT_TRUE(test::close_to(ts.forward({x3}).toTensor(), got3)) << "at batch 3, against TorchScript";
}

INSTANTIATE_TEST_SUITE_P(Swin, SwinExport, ::testing::Values("traced", "scripted"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// Adaptive pooling that the feature map does not divide (tests/export/adaptive_pool_cases.py: a
// VGG-style classifier, conv -> AdaptiveAvg/MaxPool2d((7, 7)) -> linear, on 5x5, 10x10 and 13x9
// maps, traced by PyTorch at test time): ours == PyTorch, the export (Slice + ReduceMean/ReduceMax +
// Concat) runs in ORT == ours at batch 1 and 3, and check_tensorrt sees only the conv and the
// classifier as compute nodes (the pooling adds none) and no broken rule.
TEST(AdaptivePoolExport, VggClassifierAtSizesThatDoNotDivide) {
  test::TempDir dir;
  auto gen = test::run_command("/usr/bin/python3 " + test::source_dir() + "/tests/export/adaptive_pool_cases.py " +
                               dir.path());
  ASSERT_EQ(gen.exit_code, 0) << gen.out;
  std::ifstream list(dir.file("cases.txt"));
  std::string name;
  int cases = 0;
  while (list >> name) {
    SCOPED_TRACE(name);
    ++cases;
    at::Tensor x = data::read_npy(dir.file(name + ".input.npy"));
    at::Tensor expected = data::read_npy(dir.file(name + ".expected.npy"));
    frontend::ImportOptions io;
    io.input_shape.assign(x.sizes().begin(), x.sizes().end());
    ir::Model m = frontend::import_torchscript(dir.file(name + ".traced.pt"), io);
    runtime::Executor ex(m);
    // The same ATen kernels on the same data; the bound leaves room for another summation order.
    EXPECT_TRUE(test::close_to(expected, ex.run1(x), 1e-5)) << "ours against PyTorch";
    const std::string onnx = dir.file(name + ".onnx");
    exporter::ExportOptions opts;
    opts.producer_version = "test";
    ASSERT_NO_THROW(exporter::export_onnx(m, onnx, opts));
    std::map<std::string, int> hist;
    const onnx::ModelProto mp = test::load_onnx(onnx);
    for (const auto& n : mp.graph().node()) hist[n.op_type()]++;
    const bool avg = name.rfind("avg", 0) == 0;
    EXPECT_GT(hist[avg ? "ReduceMean" : "ReduceMax"], 0);
    EXPECT_GT(hist["Slice"], 0);
    EXPECT_EQ(hist["AveragePool"] + hist["MaxPool"] + hist["MatMul"], 0);
    for (at::Tensor in : {x, at::cat({x, x.flip(-1), x * 0.5})})
      EXPECT_TRUE(test::close_to(ex.run1(in), test::run_ort(onnx, in, "all"))) << "batch " << in.size(0);
    exporter::TrtCheckResult trt = exporter::check_tensorrt_file(onnx);
    EXPECT_TRUE(trt.violations.empty()) << trt.table();
    ASSERT_EQ(trt.nodes.size(), 2u) << trt.table();
    EXPECT_EQ(trt.nodes[0].op, "Conv");
    EXPECT_EQ(trt.nodes[1].op, "Gemm");
  }
  EXPECT_EQ(cases, 6);
}

}  // namespace
}  // namespace mc
