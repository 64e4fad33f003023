// INT8 PTQ on torchvision models (fixtures of tests/fixtures/make_torchvision.py): BatchNorm
// folded, TensorRT placement (quantization/insert_qdq), min-max calibration on the fixture's input
// (batch 1), QDQ export (ONNX checker and strict shape inference in to_onnx), and ONNX Runtime's
// output of the file against our executor's fake-quant output. Label "slow".
#include <gtest/gtest.h>

#include "data/npy.h"
#include "export/onnx_export.h"
#include "frontend/frontend.h"
#include "frontend/torchscript_test_util.h"
#include "ir/passes/fold_batch_norm.h"
#include "quantization/insert_qdq.h"
#include "quantization/observers.h"
#include "runtime/executor.h"
#include "export/export_test_util.h"
#include "support/test_env.h"

namespace mc {
namespace {

class QuantizeTorchvision : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizeTorchvision, Int8PtqExportsAndOrtMatchesFakeQuant) {
  const std::string name = GetParam();
  auto [model, x] = test::import_traced_fixture(name);
  ir::passes::fold_batch_norm(model);
  const at::Tensor fp = runtime::Executor(model).run1(x);

  quant::QuantConfig cfg;  // per-channel symmetric int8 weights, per-tensor symmetric int8 activations
  quant::QuantPlan plan = quant::plan_qdq(model, cfg);
  ASSERT_FALSE(plan.weights.empty());
  ASSERT_FALSE(plan.activations.empty());
  // Min-max calibration of every activation quantizer on the fixture input.
  std::map<std::string, std::unique_ptr<quant::Observer>> obs;
  std::map<std::string, quant::QParams> qp;
  {
    runtime::Executor ex(model);
    for (const auto& a : plan.activations) {
      obs[a.name] = quant::make_observer({}, a.spec);
      quant::Observer* ob = obs[a.name].get();
      for (const auto& v : a.values) ex.add_hook(v, [ob](const ir::Value&, const at::Tensor& t) { ob->observe(t); });
    }
    ex.run1(x);
  }
  for (auto& [n, ob] : obs) qp[n] = ob->qparams();
  quant::insert_qdq(model, plan, qp);
  const at::Tensor ours = runtime::Executor(model).run1(x);
  ASSERT_EQ(ours.sizes(), fp.sizes());
  // Quantized, not the float model, and not broken: close to float relative to the output's range.
  const double range = fp.abs().max().item<double>();
  const double qerr = (ours - fp).abs().max().item<double>();
  EXPECT_GT(qerr, 0.0);
  EXPECT_LT(qerr, 0.5 * range) << name << ": fake-quant output far from float";

  test::TempDir dir;
  const std::string onnx = dir.file(name + "_int8.onnx");
  exporter::optimize_for_export(model);
  exporter::export_onnx(model, onnx);  // onnx::checker + strict shape inference
  // Level disabled: ORT runs the Q/DQ graph as ONNX defines it (float Conv on dequantized values),
  // the same computation as our executor up to rounding ties (ONNX divides by the scale, ATen
  // multiplies by its reciprocal). Level all: ORT's integer kernels (QLinearConv with an int32 bias,
  // fixed-point requantization) round differently at more ties. A flipped step early on
  // propagates through the later quantizers, and the average pool's output is quantized on its
  // input's grid (coarse for a mean), so a mean changed upstream moves a whole step. The pool's own
  // rounding is ORT's (the integer QLinearGlobalAveragePool, see QuantizedPool tests; on these
  // inputs, 7x7 pools without ties, it equals the float mean's: same outputs), so the bound covers
  // upstream differences only (measured: mean |ORT - ours| is 0 (shufflenet, level disabled) to
  // 0.84 x mean |ours - float| (densenet121 level all; 0.78 disabled; resnet18 0.76 / 0.72, on an
  // AVX2 machine with ORT's session.x64quantprecision; 0.62 / 0.69 elsewhere)); a missing or wrong
  // quantizer shows up as a difference the size of the quantization error itself or more. Same
  // top-1 class.
  const double qmean = (ours - fp).abs().mean().item<double>();
  for (const std::string level : {"disabled", "all"}) {
    at::Tensor theirs = test::run_ort(onnx, x, level);
    ASSERT_TRUE(theirs.defined());
    ASSERT_EQ(theirs.sizes(), ours.sizes());
    const double diff = (theirs - ours).abs().max().item<double>(), mean = (theirs - ours).abs().mean().item<double>();
    std::cout << "[ ptq ] " << name << " level " << level << ": max |int8 - float| " << qerr << " (mean " << qmean
              << "), max |ORT - ours| " << diff << " (mean " << mean << "), |float| " << range << "\n";
    EXPECT_LT(mean, 0.9 * qmean) << name << " " << level;
    EXPECT_TRUE(at::equal(theirs.argmax(1), ours.argmax(1))) << name << " " << level;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, QuantizeTorchvision,
                         ::testing::Values("resnet18", "mobilenet_v2", "shufflenet_v2_x0_5", "efficientnet_b0",
                                           "densenet121"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace mc
