// Cross-entropy with label smoothing: value and gradient against F.cross_entropy, closed form.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "torch_ref.h"
#include "train/loss.h"

namespace mc::train {
namespace {

const char* kTorchLoss = R"PY(
import sys, numpy as np, torch, torch.nn.functional as F
d, s = sys.argv[1], float(sys.argv[2])
x = torch.from_numpy(np.fromfile(f"{d}/x.bin", dtype="<f4").reshape(6, 5).copy()).requires_grad_()
y = torch.from_numpy(np.fromfile(f"{d}/y.bin", dtype="<i8").copy())
loss = F.cross_entropy(x, y, label_smoothing=s)
loss.backward()
x.grad.numpy().astype("<f4").tofile(f"{d}/grad.bin")
print(f"{loss.item():.9g}")
)PY";

TEST(Loss, CrossEntropyWithLabelSmoothingMatchesTorch) {
  ASSERT_TRUE(test::python_oracle("torch, numpy"));
  for (double s : {0.0, 0.1, 0.3}) {
    test::TempDir dir;
    at::Tensor x = at::empty({6, 5}).normal_(0, 2, at::make_generator<at::CPUGeneratorImpl>(5));
    at::Tensor y = at::tensor({0, 4, 2, 2, 1, 3}, at::kLong);
    test::write_raw(dir.file("x.bin"), x);
    test::write_raw(dir.file("y.bin"), y);
    double want = std::stod(test::run_python(dir, kTorchLoss, std::to_string(s)));
    x.requires_grad_(true);
    at::Tensor loss = cross_entropy(x, y, s);
    loss.backward();
    EXPECT_NEAR(loss.item<double>(), want, 1e-6) << "smoothing " << s;
    EXPECT_LE(test::max_abs_diff(x.grad(), test::read_raw(dir.file("grad.bin"), {6, 5})), 1e-7);
  }
}

TEST(Loss, ClosedForm) {
  // Two classes, logits (0, 0): log-softmax is log(1/2) for both; smoothing does not matter.
  at::Tensor x = at::zeros({1, 2});
  at::Tensor y = at::tensor({1}, at::kLong);
  EXPECT_NEAR(cross_entropy(x, y, 0.0).item<double>(), std::log(2.0), 1e-7);
  EXPECT_NEAR(cross_entropy(x, y, 0.2).item<double>(), std::log(2.0), 1e-7);
  // Logits (0, L): CE = log(1 + e^L) - L on the label; smoothing s: (1 - s/2) * ce1 + s/2 * ce0.
  const double L = 2.0, s = 0.2;
  x = at::tensor({0.0, L}, at::kFloat).reshape({1, 2});
  const double lse = std::log(1.0 + std::exp(L));
  EXPECT_NEAR(cross_entropy(x, y).item<double>(), lse - L, 1e-6);
  EXPECT_NEAR(cross_entropy(x, y, s).item<double>(), (1 - s / 2) * (lse - L) + s / 2 * lse, 1e-6);
  at::Tensor per = cross_entropy_per_sample(at::zeros({3, 4}), at::tensor({0, 1, 3}, at::kLong));
  EXPECT_EQ(per.sizes(), (at::IntArrayRef{3}));
  EXPECT_NEAR(per[2].item<double>(), std::log(4.0), 1e-6);
}

TEST(Loss, BadShapesAndSmoothingAreInputErrors) {
  EXPECT_THROW(cross_entropy(at::zeros({2, 3, 4}), at::zeros({2}, at::kLong)), InputError);
  EXPECT_THROW(cross_entropy(at::zeros({2, 3}), at::zeros({3}, at::kLong)), InputError);
  EXPECT_THROW(cross_entropy(at::zeros({2, 3}), at::zeros({2}, at::kLong), 1.0), InputError);
  EXPECT_THROW(cross_entropy(at::zeros({2, 3}), at::zeros({2}, at::kLong), -0.1), InputError);
}

}  // namespace
}  // namespace mc::train
