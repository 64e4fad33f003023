// Distillation losses on fixed tensors: against a hand computation and against PyTorch itself
// (/usr/bin/python3 on the same .npy files, at test time).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "common/error.h"
#include "data/npy.h"
#include "distillation/losses.h"
#include "support/test_env.h"
#include "train/torch_ref.h"

using namespace mc;

namespace {

// Fixed logits: 3 samples, 4 classes.
at::Tensor student_logits() {
  return at::tensor({1.0, -0.5, 2.0, 0.3, 0.2, 0.1, -1.2, 3.0, -2.0, 0.5, 0.5, 1.5}, at::kFloat).reshape({3, 4});
}
at::Tensor teacher_logits() {
  return at::tensor({2.5, -1.0, 1.0, 0.0, 0.0, 0.4, -0.8, 4.0, -1.0, 1.0, 0.0, 0.5}, at::kFloat).reshape({3, 4});
}

}  // namespace

TEST(DistillLosses, KdLossEqualsAHandComputation) {
  const double T = 4.0;
  auto s = student_logits(), t = teacher_logits();
  // T^2 / N * sum_i sum_c pt_ic * (log pt_ic - log ps_ic), softmaxes computed in double by hand.
  double expected = 0.0;
  for (int64_t i = 0; i < 3; ++i) {
    double zs = 0, zt = 0;
    for (int64_t c = 0; c < 4; ++c) {
      zs += std::exp(s[i][c].item<double>() / T);
      zt += std::exp(t[i][c].item<double>() / T);
    }
    for (int64_t c = 0; c < 4; ++c) {
      const double ps = std::exp(s[i][c].item<double>() / T) / zs;
      const double pt = std::exp(t[i][c].item<double>() / T) / zt;
      expected += pt * (std::log(pt) - std::log(ps));
    }
  }
  expected = expected / 3.0 * T * T;
  EXPECT_NEAR(distill::kd_loss(s, t, T).item<double>(), expected, 1e-6);
  EXPECT_GT(expected, 0.01);  // the fixture logits really differ
  // Identical logits: zero; and the loss does not depend on the teacher's gradient.
  EXPECT_NEAR(distill::kd_loss(t, t, T).item<double>(), 0.0, 1e-7);
}

TEST(DistillLosses, KdHintAndAttentionLossesMatchPyTorch) {
  ASSERT_TRUE(test::python_oracle("torch"));
  test::TempDir d;
  at::manual_seed(3);
  auto s = student_logits(), t = teacher_logits();
  auto fs = at::randn({2, 8, 5, 5}), ft = at::randn({2, 8, 5, 5}), ft16 = at::randn({2, 16, 5, 5});
  data::write_npy(d.file("s.npy"), s);
  data::write_npy(d.file("t.npy"), t);
  data::write_npy(d.file("fs.npy"), fs);
  data::write_npy(d.file("ft.npy"), ft);
  data::write_npy(d.file("ft16.npy"), ft16);
  const std::string out = test::run_python(d, R"(import sys, numpy as np, torch, torch.nn.functional as F
d = sys.argv[1]
L = lambda n: torch.from_numpy(np.load(d + '/' + n + '.npy'))
s, t, fs, ft, ft16 = L('s'), L('t'), L('fs'), L('ft'), L('ft16')
for T in (1.0, 4.0):
    print(repr((F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction='batchmean') * T * T).item()))
print(repr(F.mse_loss(fs, ft).item()))
at = lambda x: F.normalize(x.pow(2).mean(1).view(x.size(0), -1))
print(repr((at(fs) - at(ft16)).pow(2).mean().item()))
)");
  std::istringstream in(out);
  double kd1, kd4, mse, att;
  in >> kd1 >> kd4 >> mse >> att;
  ASSERT_FALSE(in.fail()) << out;
  EXPECT_NEAR(distill::kd_loss(s, t, 1.0).item<double>(), kd1, 1e-6);
  EXPECT_NEAR(distill::kd_loss(s, t, 4.0).item<double>(), kd4, 1e-6);
  EXPECT_NEAR(distill::hint_loss(fs, ft).item<double>(), mse, 1e-6);
  EXPECT_NEAR(distill::attention_loss(fs, ft16).item<double>(), att, 1e-7);
  EXPECT_GT(att, 1e-5);
}

TEST(DistillLosses, GradientFlowsToTheStudentOnly) {
  auto s = student_logits().requires_grad_(true);
  auto t = teacher_logits().requires_grad_(true);
  distill::kd_loss(s, t, 2.0).backward();
  ASSERT_TRUE(s.grad().defined());
  EXPECT_GT(s.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(t.grad().defined());
  // d/ds of T^2 * KL / N is T * (softmax(s/T) - softmax(t/T)) / N.
  auto expected = 2.0 * (at::softmax(student_logits() / 2.0, 1) - at::softmax(teacher_logits() / 2.0, 1)) / 3.0;
  EXPECT_LT(test::max_abs_diff(s.grad(), expected), 1e-6);
}

TEST(DistillLosses, AttentionMapsAreUnitNormAndIgnoreChannelCount) {
  at::manual_seed(1);
  auto x = at::randn({3, 8, 4, 4});
  auto m = distill::attention_map(x);
  EXPECT_EQ(m.sizes(), (std::vector<int64_t>{3, 16}));
  EXPECT_LT(test::max_abs_diff(m.norm(2, {1}), at::ones({3})), 1e-6);
  // Repeating channels does not change the (mean-pooled) map.
  EXPECT_LT(test::max_abs_diff(distill::attention_map(at::cat({x, x}, 1)), m), 1e-6);
}

TEST(DistillLosses, BadShapesAndTemperatureAreClearErrors) {
  auto s = student_logits();
  try {
    distill::kd_loss(s, at::zeros({3, 5}), 4.0);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("same N x C shape"), std::string::npos) << e.what();
  }
  try {
    distill::kd_loss(s, s, 0.0);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("temperature = 0 must be > 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(distill::hint_loss(at::zeros({1, 4, 3, 3}), at::zeros({1, 8, 3, 3})), InputError);
  try {
    distill::attention_loss(at::zeros({1, 4, 3, 3}), at::zeros({1, 4, 6, 6}));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("same batch and spatial size"), std::string::npos) << e.what();
  }
}
