// Transformers (the `transformer` fixtures of make_torchvision.py: a small torchvision
// VisionTransformer, nn.TransformerEncoder on PyTorch's fused fast path and off it), traced and
// scripted: imported, optimized (as `compress export` does), exported to ONNX at opset 13 (layer
// norm decomposed, gelu as Erf) and 17 (LayerNormalization) and run in ONNX Runtime at
// optimization level 'all': the output equals PyTorch's (<model>.output.npy) within
// 1e-4 x max |output|, as for the torchvision CNNs; the batch-first models also at batch 3
// against our executor (the class token's Expand reads the batch from the input).
#include <gtest/gtest.h>

#include <filesystem>

#include "data/npy.h"
#include "export/onnx_export.h"
#include "export_test_util.h"
#include "frontend/frontend.h"
#include "ir/passes/optimize.h"
#include "runtime/executor.h"

namespace mc {
namespace {

struct Case {
  std::string model;
  std::string kind;  // traced | scripted
  int opset;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.model << "." << c.kind << " opset " << c.opset; }

class TransformerExport : public ::testing::TestWithParam<Case> {};

TEST_P(TransformerExport, OrtMatchesPyTorch) {
  const Case& c = GetParam();
  const std::string base = test::fixture_dir() + "/" + c.model;
  const std::string pt = base + "." + c.kind + ".pt";
  ASSERT_TRUE(std::filesystem::exists(pt)) << pt << " is missing: run the fixtures.torchvision test (ctest) or "
                                           << "tests/fixtures/make_torchvision.py --out " << test::fixture_dir();
  at::Tensor x = data::read_npy(base + ".input.npy");
  at::Tensor ref = data::read_npy(base + ".output.npy");
  frontend::ImportOptions io;
  io.input_shape.assign(x.sizes().begin(), x.sizes().end());
  ir::Model m = frontend::import_torchscript(pt, io);
  ir::passes::optimize(m);
  test::TempDir dir;
  const std::string onnx = dir.file(c.model + ".onnx");
  exporter::ExportOptions opts;
  opts.opset = c.opset;
  opts.producer_version = "test";
  ASSERT_NO_THROW(exporter::export_onnx(m, onnx, opts));

  onnx::ModelProto mp = test::load_onnx(onnx);
  std::map<std::string, int> hist;
  for (auto& n : mp.graph().node()) hist[n.op_type()]++;
  const int norms = c.model == "vit_small" ? 5 : 4;  // two per layer (and ViT's final encoder.ln)
  EXPECT_EQ(hist["LayerNormalization"], c.opset >= 17 ? norms : 0);
  EXPECT_EQ(hist["Softmax"], 2);
  EXPECT_GE(hist["MatMul"], 4);  // two per attention, besides the linear layers
  if (c.model == "vit_small") EXPECT_EQ(hist["Expand"], 1);
  if (c.model != "transformer_encoder_slow") EXPECT_EQ(hist["Erf"], c.model == "vit_small" ? 2 : 1);  // exact gelu
  at::Tensor got = test::run_ort(onnx, x, "all");
  EXPECT_TRUE(test::close_to(ref, got)) << c.model << " (" << c.kind << ")";
  std::cout << "[ ort ] " << c.model << "." << c.kind << " opset " << c.opset << ": max|diff| / max|ref| "
            << ((got - ref).abs().max() / ref.abs().max()).item<double>() << "\n";

  if (c.model == "transformer_encoder_slow") return;  // batch at dim 1: the views keep the import shape
  EXPECT_EQ(mp.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  at::Tensor x3 = at::cat({x, x.flip(-1), x * 0.5});
  runtime::Executor ex(m);
  EXPECT_TRUE(test::close_to(ex.run1(x3), test::run_ort(onnx, x3, "all"))) << c.model << " (" << c.kind << ") at batch 3";
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (const char* m : {"vit_small", "transformer_encoder", "transformer_encoder_slow"})
    for (const char* k : {"traced", "scripted"})
      for (int opset : {13, 17}) v.push_back({m, k, opset});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TransformerExport, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return i.param.model + "_" + i.param.kind + "_opset" + std::to_string(i.param.opset);
                         });

}  // namespace
}  // namespace mc
