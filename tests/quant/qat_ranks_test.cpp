// QAT activation ranges in a data-parallel run (ranks as threads on loopback, each with its own
// World and model copy): each rank forwards its half of a global batch, the forward's min/max are
// all-reduced before the moving-average step, so both ranks' scales equal one process's on the
// whole batch at every step; without the all-reduce a rank's own half gives other scales.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <mutex>

#include "distributed/dist_test_util.h"
#include "ir/model.h"
#include "ir/pass_test_util.h"
#include "quantization/qat.h"
#include "runtime/executor.h"

namespace mc::quant {
namespace {

using ir::Model;

const char* kConcat = R"IR(graph(%x: f32[2,3,5,5]) {
  %w1 = param[name="a.weight"]() @a
  %a = conv2d[padding=[1,1]](%x, %w1) @a
  %w2 = param[name="b.weight"]() @b
  %b = conv2d[padding=[1,1]](%x, %w2) @b
  %c = cat[dim=1](%a, %b) @cat
  %w3 = param[name="head.weight"]() @head
  %y = conv2d(%c, %w3) @head
  return(%y)
}
)IR";

constexpr int kSteps = 3;

struct QatData {
  std::map<std::string, at::Tensor> weights;
  std::vector<at::Tensor> batches;  // the global batch of each step: 4 samples
};

QatData make_setup() {
  at::manual_seed(0);
  QatData s;
  s.weights = {{"a.weight", at::randn({4, 3, 3, 3}) * 0.1}, {"b.weight", at::randn({4, 3, 3, 3}) * 2.0},
               {"head.weight", at::randn({2, 8, 1, 1})}};
  for (int i = 0; i < kSteps; ++i) s.batches.push_back(at::randn({4, 3, 5, 5}) * (1.0 + i));
  return s;
}

// QAT of kConcat seeded with the range [-1, 1]; runs one training forward per step with the rows
// [from, to) of the step's global batch; returns every activation scale after every step.
std::vector<std::map<std::string, float>> run_qat(const QatData& s, int64_t from, int64_t to, dist::World& world) {
  std::map<std::string, at::Tensor> w;
  for (const auto& [k, v] : s.weights) w[k] = v.clone();
  Model m = ir::pass_test::make(kConcat, w);
  QuantPlan plan = plan_qdq(m, QuantConfig{});
  Calibration calib;
  for (auto& a : plan.activations) {
    calib.qparams[a.name] = compute_qparams(a.spec, at::scalar_tensor(-1.0f), at::scalar_tensor(1.0f));
    calib.entries[a.name]["range"] = {-1.0, 1.0};
  }
  auto inserted = insert_qdq(m, plan, calib.qparams);
  QatOptions o;
  o.averaging_constant = 0.1;
  QatModifier mod(prepare_qat(m, plan, inserted, &calib, o), world);
  runtime::Executor ex(m);
  train::TrainContext ctx;
  ctx.model = &m;
  ctx.executor = &ex;
  ctx.epochs = 1;
  mod.on_train_begin(ctx);
  mod.on_epoch_begin(ctx, 0);
  std::vector<std::map<std::string, float>> scales;
  for (const at::Tensor& b : s.batches) {
    ex.forward({b.slice(0, from, to).contiguous()}, /*training=*/true);
    std::map<std::string, float> now;
    for (auto& a : plan.activations) now[a.name] = m.tensors.at(a.name + ".scale").item<float>();
    scales.push_back(now);
  }
  return scales;
}

TEST(QatRanks, ActivationRangesStayThoseOfTheGlobalBatch) {
  const QatData s = make_setup();
  dist::World one;
  const auto single = run_qat(s, 0, 4, one);
  std::mutex mu;
  std::vector<std::vector<std::map<std::string, float>>> ranks(2);
  test::run_ranks(2, [&](int rank, dist::World& w) {
    auto r = run_qat(s, 2 * rank, 2 * rank + 2, w);
    std::lock_guard<std::mutex> lock(mu);
    ranks[static_cast<size_t>(rank)] = std::move(r);
  });
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_EQ(ranks[rank].size(), static_cast<size_t>(kSteps));
    for (int step = 0; step < kSteps; ++step)
      for (const auto& [name, want] : single[step])
        // A conv of 2 samples and of 4 give each sample's outputs as the same float operations
        // here (same kernel, per-sample loops); FLOAT_EQ (4 ulps) leaves room for a kernel that
        // blocks the batch differently, far below a moving-average step of another range.
        EXPECT_FLOAT_EQ(ranks[rank][step].at(name), want) << "rank " << rank << " step " << step << " " << name;
  }
  // Without the all-reduce (a one-process World), each half moves the ranges its own way.
  const auto half0 = run_qat(s, 0, 2, one), half1 = run_qat(s, 2, 4, one);
  int differ = 0;
  for (const auto& [name, want] : single.back())
    differ += half0.back().at(name) != want || half1.back().at(name) != want;
  EXPECT_GT(differ, 0) << "the halves of the batch do not differ in range: the test would not see a missing all-reduce";
}

}  // namespace
}  // namespace mc::quant
