// Synchronised BatchNorm and the gradient reducer, ranks as threads on loopback, against PyTorch's
// own one-process computation (at::batch_norm and autograd) on the union of the ranks' samples.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <mutex>

#include "distributed/dist_test_util.h"
#include "distributed/gradient_reducer.h"
#include "distributed/sync_batch_norm.h"
#include "distributed/world.h"

namespace mc {
namespace {

using dist::ReduceOp;
using dist::World;

at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

struct BnReference {
  at::Tensor y, dx, dw, db, running_mean, running_var;
};

// PyTorch: training-mode batch norm of the whole batch, loss = sum(y * g), autograd.
BnReference reference(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const at::Tensor& g) {
  BnReference r;
  at::Tensor xr = x.clone().requires_grad_(), wr = w.clone().requires_grad_(), br = b.clone().requires_grad_();
  r.running_mean = at::zeros({x.size(1)}, x.options());
  r.running_var = at::ones({x.size(1)}, x.options());
  r.y = at::batch_norm(xr, wr, br, r.running_mean, r.running_var, true, 0.1, 1e-5, false);
  (r.y * g).sum().backward();
  r.dx = xr.grad();
  r.dw = wr.grad();
  r.db = br.grad();
  r.y = r.y.detach();
  return r;
}

// Rank r holds rows [lo_r, hi_r) of the batch (uneven: 3 and 5 of 8).
TEST(SyncBatchNorm, ForwardBackwardAndStatisticsMatchTheWholeBatch) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({8, 3, 4, 5}, f64()) * 2 + 0.5, g = at::randn({8, 3, 4, 5}, f64());
  const at::Tensor w = at::randn({3}, f64()), b = at::randn({3}, f64());
  const BnReference ref = reference(x, w, b, g);
  const int64_t lo[2] = {0, 3}, len[2] = {3, 5};
  test::run_ranks(2, [&](int r, World& world) {
    at::Tensor xr = x.narrow(0, lo[r], len[r]).clone().requires_grad_();
    at::Tensor wr = w.clone().requires_grad_(), br = b.clone().requires_grad_();
    at::Tensor rm = at::zeros({3}, f64()), rv = at::ones({3}, f64());
    at::Tensor y = dist::sync_batch_norm(world, xr, wr, br, rm, rv, 0.1, 1e-5);
    (y * g.narrow(0, lo[r], len[r])).sum().backward();
    // float64 throughout: differences are rounding only (values are O(1); 1e-10 leaves 10^5 ulps).
    EXPECT_TRUE(at::allclose(y, ref.y.narrow(0, lo[r], len[r]), 1e-10, 1e-10)) << "rank " << r;
    EXPECT_TRUE(at::allclose(xr.grad(), ref.dx.narrow(0, lo[r], len[r]), 1e-10, 1e-10)) << "rank " << r;
    EXPECT_TRUE(at::allclose(rm, ref.running_mean, 1e-12, 1e-12)) << "rank " << r;
    EXPECT_TRUE(at::allclose(rv, ref.running_var, 1e-12, 1e-12)) << "rank " << r;
    // weight and bias: local gradients whose sum over the ranks is the whole batch's.
    std::vector<at::Tensor> gw{wr.grad().clone(), br.grad().clone()};
    world.all_reduce(gw, ReduceOp::kSum);
    EXPECT_TRUE(at::allclose(gw[0], ref.dw, 1e-10, 1e-10)) << "rank " << r;
    EXPECT_TRUE(at::allclose(gw[1], ref.db, 1e-10, 1e-10)) << "rank " << r;
    EXPECT_FALSE(at::allclose(wr.grad(), ref.dw, 1e-3, 1e-3)) << "rank " << r << ": the local part is not the whole";
  });
}

TEST(SyncBatchNorm, FloatOnOneProcessEqualsBatchNorm) {
  at::manual_seed(2);
  World one;
  const at::Tensor x = at::randn({16, 4, 6, 6}) * 3 + 1, w = at::rand({4}) + 0.5, b = at::randn({4});
  at::Tensor rm1 = at::zeros({4}), rv1 = at::ones({4}), rm2 = rm1.clone(), rv2 = rv1.clone();
  at::Tensor y1 = dist::sync_batch_norm(one, x, w, b, rm1, rv1, 0.1, 1e-5);
  at::Tensor y2 = at::batch_norm(x, w, b, rm2, rv2, true, 0.1, 1e-5, false);
  // float32 outputs of size ~3: a few ulps (1.2e-7 each) apart from the different op order.
  EXPECT_TRUE(at::allclose(y1, y2, 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(rv1, rv2, 1e-6, 1e-6));
}

// loss_r = sum(tanh(x_r W1^T + b1) W2^T) (+ u on rank 0 only); the reducer's gradients against the
// average of the per-rank gradients computed here without it.
TEST(GradientReducer, AveragesInBucketsDuringBackward) {
  at::manual_seed(3);
  const at::Tensor W1 = at::randn({5, 4}), b1 = at::randn({5}), W2 = at::randn({3, 5}), u = at::randn({2});
  const at::Tensor x[2] = {at::randn({6, 4}), at::randn({6, 4})};
  auto loss_of = [&](int r, const std::vector<at::Tensor>& p) {
    at::Tensor l = at::matmul(at::tanh(at::matmul(x[r], p[0].t()) + p[1]), p[2].t()).square().sum();
    if (r == 0) l = l + p[3].sum() * 3;  // u gets a gradient on rank 0 only
    return l;
  };
  auto fresh = [&] {
    return std::vector<at::Tensor>{W1.clone().requires_grad_(), b1.clone().requires_grad_(), W2.clone().requires_grad_(),
                                   u.clone().requires_grad_()};
  };
  std::vector<at::Tensor> expected;
  for (int r = 0; r < 2; ++r) {
    auto p = fresh();
    loss_of(r, p).backward();
    for (size_t k = 0; k < p.size(); ++k) {
      at::Tensor gk = p[k].grad().defined() ? p[k].grad() : at::zeros_like(p[k]);
      if (r == 0) expected.push_back(gk / 2);
      else expected[k] = expected[k] + gk / 2;
    }
  }
  test::run_ranks(2, [&](int r, World& world) {
    auto p = fresh();
    dist::GradientReducer reducer(world, /*bucket_bytes=*/64);  // 16 floats
    reducer.set_params(p);
    EXPECT_EQ(reducer.num_buckets(), 4u);  // [u], [W2], [b1], [W1]
    for (int step = 0; step < 2; ++step) {
      for (auto& t : p) t.mutable_grad().reset();
      reducer.prepare();
      loss_of(r, p).backward();
      reducer.finish();
      for (size_t k = 0; k < p.size(); ++k)
        EXPECT_TRUE(at::allclose(p[k].grad(), expected[k], 1e-6, 1e-6)) << "rank " << r << " param " << k;
      // Rank 0: every bucket started during backward, before finish(). Rank 1: the first bucket (u,
      // the last parameter) never gets a gradient, and later buckets wait for it (same order on
      // every rank), so all start in finish().
      EXPECT_EQ(reducer.launched_during_backward(), r == 0 ? reducer.num_buckets() : 0u) << "rank " << r;
    }
  });
}

}  // namespace
}  // namespace mc
