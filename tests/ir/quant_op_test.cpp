// fake_quant: values on the integer grid, per-tensor and per-channel, straight-through gradients,
// learned scale (LSQ) and the shape checks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ir/model.h"
#include "runtime/executor.h"

using namespace mc::ir;

namespace {

Model model(const std::string& attrs, at::Tensor scale, at::Tensor zp, bool learn_scale = false) {
  std::string text = std::string("graph(%x: f32[2,3,4,4]) {\n") + " %s = " + (learn_scale ? "param" : "constant") +
                     "[name=\"s\"]()\n %z = constant[name=\"z\"]()\n %y = fake_quant[" + attrs +
                     "](%x, %s, %z)\n return(%y)\n}\n";
  Model m;
  m.graph = Graph::parse(text, "fq");
  m.tensors["s"] = scale;
  m.tensors["z"] = zp;
  m.infer_shapes();
  m.verify();
  return m;
}

// The definition, written out: q = clamp(round(x/s) + z, lo, hi); y = (q - z) * s.
at::Tensor reference(const at::Tensor& x, const at::Tensor& s, const at::Tensor& z, int64_t lo, int64_t hi) {
  return (at::clamp(at::round(x / s) + z, lo, hi) - z) * s;
}

}  // namespace

TEST(FakeQuant, PerTensorInt8MatchesTheDefinition) {
  at::Tensor s = at::tensor(0.05f), z = at::tensor(3.0f);
  Model m = model("quant_max=127, quant_min=-128", s, z);
  at::Tensor x = at::randn({2, 3, 4, 4}) * 4;
  at::Tensor y = mc::runtime::Executor(m).run1(x);
  EXPECT_TRUE(at::allclose(y, reference(x, s, z, -128, 127), 1e-6, 1e-6));
  // Every output is on the grid: (y / s + z) is an integer in range.
  at::Tensor q = y / s + z;
  EXPECT_LT((q - q.round()).abs().max().item<float>(), 1e-3);
  EXPECT_GE(q.min().item<float>(), -128 - 1e-3);
  EXPECT_LE(q.max().item<float>(), 127 + 1e-3);
}

TEST(FakeQuant, PerChannelFourBitUsesEachChannelsScale) {
  at::Tensor s = at::tensor({0.1f, 0.2f, 0.4f}), z = at::zeros({3});
  Model m = model("axis=1, quant_max=7, quant_min=-8", s, z);
  at::Tensor x = at::randn({2, 3, 4, 4});
  at::Tensor y = mc::runtime::Executor(m).run1(x);
  at::Tensor sv = s.view({1, 3, 1, 1});
  EXPECT_TRUE(at::allclose(y, reference(x, sv, at::zeros({1, 3, 1, 1}), -8, 7), 1e-6, 1e-6));
  for (int c = 0; c < 3; ++c)  // at most 16 distinct values per channel
    EXPECT_LE(std::get<0>(at::_unique(y.select(1, c).flatten())).numel(), 16);
}

TEST(FakeQuant, GradientIsStraightThroughInsideTheRangeAndZeroOutside) {
  Model m = model("quant_max=127, quant_min=-128", at::tensor(0.01f), at::tensor(0.0f));
  mc::runtime::Executor ex(m);
  at::Tensor x = (at::randn({2, 3, 4, 4}) * 2).requires_grad_(true);
  at::Tensor y = ex.forward({x}, true)[0];
  y.sum().backward();
  at::Tensor inside = (x.detach() >= -1.28) & (x.detach() <= 1.27);
  EXPECT_TRUE(at::equal(x.grad(), inside.to(at::kFloat)));
  EXPECT_GT(inside.sum().item<int64_t>(), 0);
  EXPECT_LT(inside.sum().item<int64_t>(), x.numel());
}

TEST(FakeQuant, LearnedScaleGetsAGradient) {
  Model m = model("quant_max=7, quant_min=-8", at::tensor({0.3f}), at::tensor({0.0f}), /*learn_scale=*/true);
  m.tensors["s"].requires_grad_(true);
  mc::runtime::Executor ex(m);
  at::Tensor x = at::randn({2, 3, 4, 4});
  at::Tensor y = ex.forward({x}, true)[0];
  ((y - x) * (y - x)).sum().backward();
  ASSERT_TRUE(m.tensors["s"].grad().defined());
  EXPECT_NE(m.tensors["s"].grad().item<float>(), 0.0f);
  EXPECT_TRUE(at::allclose(y.detach(), reference(x, at::tensor(0.3f), at::tensor(0.0f), -8, 7), 1e-6, 1e-6));
}

TEST(FakeQuant, BadQuantParametersAreNamed) {
  auto msg = [](const std::string& attrs, at::Tensor s) -> std::string {
    try {
      model(attrs, s, at::zeros(s.sizes()));
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(msg("quant_max=7, quant_min=7", at::tensor(0.1f)).find("quant_min < quant_max"), std::string::npos);
  EXPECT_NE(msg("axis=1, quant_max=7, quant_min=-8", at::ones({4})).find("expected [3]"), std::string::npos);
  EXPECT_NE(msg("axis=7, quant_max=7, quant_min=-8", at::ones({3})).find("out of range"), std::string::npos);
  EXPECT_NE(msg("quant_max=7, quant_min=-8", at::ones({3})).find("per-tensor"), std::string::npos);
}
