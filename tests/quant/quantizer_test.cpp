// Quantizer spec, qparams and observers against torch.ao.quantization (run at test time by
// /usr/bin/python3 on the same tensors), and the histogram observers on known distributions.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "common/error.h"
#include "data/npy.h"
#include "quantization/observers.h"
#include "quantization/quantizer.h"
#include "support/test_env.h"

using namespace mc::quant;
using mc::test::TempDir;

namespace {

QuantSpec spec(const std::string& qscheme, const std::string& dtype, int64_t bits = 8, bool reduce = false, int64_t axis = 0) {
  QuantSpec s;
  s.qscheme = qscheme;
  s.dtype = dtype;
  s.bits = bits;
  s.reduce_range = reduce;
  s.ch_axis = axis;
  return s;
}

}  // namespace

TEST(QRange, GridsFollowTorchAo) {
  auto r = qrange(spec("per_tensor_affine", "quint8"));
  EXPECT_EQ(r.quant_min, 0);
  EXPECT_EQ(r.quant_max, 255);
  EXPECT_FALSE(r.customized);
  r = qrange(spec("per_tensor_affine", "quint8", 8, true));
  EXPECT_EQ(r.quant_max, 127);
  r = qrange(spec("per_tensor_symmetric", "qint8", 4));
  EXPECT_EQ(r.quant_min, -8);
  EXPECT_EQ(r.quant_max, 7);
  EXPECT_TRUE(r.customized);
  r = qrange(spec("per_tensor_symmetric", "qint8", 4, true));  // Python floor division
  EXPECT_EQ(r.quant_min, -4);
  EXPECT_EQ(r.quant_max, 3);
  r = qrange(spec("per_tensor_affine", "quint8", 2));
  EXPECT_EQ(r.quant_min, 0);
  EXPECT_EQ(r.quant_max, 3);
}

// Every qscheme x dtype x bits x reduce_range, min-max and moving-average observers, per tensor
// and per channel: scales and zero points equal torch.ao's exactly.
TEST(QParams, EqualTorchAoObserversExactly) {
  TempDir d;
  at::manual_seed(3);
  std::vector<std::string> batches;
  for (int i = 0; i < 3; ++i) {
    // Shifted and skewed so min != -max; one batch all positive in channel 2.
    at::Tensor x = at::randn({4, 5, 3, 3}) * (1.5 + i) + 0.3 * i;
    x.select(1, 2).abs_();
    std::string f = "b" + std::to_string(i) + ".npy";
    mc::data::write_npy(d.file(f), x);
    batches.push_back(f);
  }
  struct Case {
    std::string name;
    QuantSpec spec;
    ObserverOptions obs;
  };
  std::vector<Case> cases;
  nlohmann::json js = nlohmann::json::array();
  int k = 0;
  for (std::string obs : {"minmax", "moving_average"})
    for (std::string qs : {"per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric"})
      for (std::string dt : {"qint8", "quint8"})
        for (int64_t bits : {8, 4, 2})
          for (bool rr : {false, true}) {
            if (bits == 2 && rr) continue;  // a 1-value grid
            // torch.ao refuses reduce_range for symmetric quint8 (so does our recipe check).
            if (rr && dt == "quint8" && qs.find("symmetric") != std::string::npos) continue;
            int64_t axis = (k % 2) ? 1 : 0;
            Case c{"c" + std::to_string(k++), spec(qs, dt, bits, rr, axis), {}};
            c.obs.type = obs;
            c.obs.averaging_constant = 0.1;
            cases.push_back(c);
            js.push_back({{"name", c.name}, {"observer", obs}, {"qscheme", qs}, {"dtype", dt}, {"bits", bits},
                          {"reduce_range", rr}, {"ch_axis", axis}, {"averaging_constant", 0.1}, {"batches", batches}});
          }
  std::ofstream(d.file("cases.json")) << js.dump();
  auto r = mc::test::run_command("/usr/bin/python3 " + mc::test::source_dir() + "/tests/quant/torch_observers.py " + d.path());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (auto& c : cases) {
    auto o = make_observer(c.obs, c.spec);
    for (auto& b : batches) o->observe(mc::data::read_npy(d.file(b)));
    QParams q = o->qparams();
    at::Tensor es = mc::data::read_npy(d.file(c.name + ".scale.npy"));
    at::Tensor ez = mc::data::read_npy(d.file(c.name + ".zero_point.npy"));
    std::string what = c.name + " " + c.obs.type + " " + c.spec.qscheme + " " + c.spec.dtype + " bits " +
                       std::to_string(c.spec.bits) + (c.spec.reduce_range ? " reduce_range" : "");
    ASSERT_EQ(q.scale.sizes(), es.sizes()) << what;
    EXPECT_TRUE(at::equal(q.scale, es)) << what << "\nours " << q.scale << "\ntorch " << es;
    EXPECT_TRUE(at::equal(q.zero_point, ez)) << what << "\nours " << q.zero_point << "\ntorch " << ez;
  }
  EXPECT_EQ(cases.size(), 72u);
}

TEST(QParams, EmptyOrInvalidRangeGivesUnitScale) {
  QuantSpec s = spec("per_tensor_affine", "quint8");
  QParams q = compute_qparams(s, at::scalar_tensor(1.0), at::scalar_tensor(-1.0));
  EXPECT_EQ(q.scale.item<float>(), 1.0f);
  EXPECT_EQ(q.zero_point.item<int64_t>(), 0);
  // All-zero data: scale is eps (never 0), zero point at the bottom of the grid.
  q = compute_qparams(s, at::scalar_tensor(0.0), at::scalar_tensor(0.0));
  EXPECT_FLOAT_EQ(q.scale.item<float>(), 1.1920928955078125e-07f);
}

namespace {
double quant_mse(const Observer& o, const at::Tensor& x) {
  return (fake_quantize(o.spec(), x, o.qparams()) - x).square().mean().item<double>();
}
std::pair<double, double> lo_hi(const Observer& o) {
  auto [lo, hi] = o.range();
  return {lo.item<double>(), hi.item<double>()};
}
}  // namespace

TEST(Observers, PercentileClipsOutliersOfAGaussian) {
  at::manual_seed(0);
  at::Tensor x = at::randn({200000});
  x.index_put_({at::arange(0, 20)}, at::full({20}, 40.0));  // outliers 40 sigma away
  x.index_put_({at::arange(20, 30)}, at::full({10}, -35.0));
  ObserverOptions po;
  po.type = "percentile";
  po.percentile = 99.9;
  auto p = make_observer(po, spec("per_tensor_affine", "qint8"));
  auto m = make_observer({}, spec("per_tensor_affine", "qint8"));
  for (auto& chunk : x.chunk(4)) {
    p->observe(chunk);
    m->observe(chunk);
  }
  auto [lo, hi] = lo_hi(*p);
  // The 0.1% / 99.9% points of N(0, 1) are -/+3.09; histogram bins are 75/2048 wide.
  EXPECT_NEAR(hi, 3.09, 0.1);
  EXPECT_NEAR(lo, -3.09, 0.1);
  EXPECT_EQ(lo_hi(*m).second, 40.0);
  EXPECT_EQ(lo_hi(*m).first, -35.0);
  // On the inliers (all but the 30 outliers) the error is far smaller than with the min-max range.
  at::Tensor inliers = x.slice(0, 30);
  EXPECT_LT(quant_mse(*p, inliers), quant_mse(*m, inliers) / 10);
}

TEST(Observers, MseAndEntropyChooseTighterRangesWithLowerErrorOnHeavyTails) {
  at::manual_seed(1);
  // Laplace data (heavy tails: max ~ 12 scale units for 1e5 samples), after a ReLU (unsigned) and
  // signed, on a 4-bit grid where clipping pays off most.
  for (bool relu : {true, false}) {
    at::Tensor u = at::rand({100000}) * 0.999998 + 1e-6;
    at::Tensor x = -at::log(u) * at::sign(at::rand({100000}) - 0.5);
    if (relu) x = at::relu(x);
    QuantSpec s = spec(relu ? "per_tensor_affine" : "per_tensor_symmetric", relu ? "quint8" : "qint8", 4);
    auto m = make_observer({}, s);
    ObserverOptions mo, eo;
    mo.type = "mse";
    eo.type = "entropy";
    auto mse = make_observer(mo, s), ent = make_observer(eo, s);
    for (auto& chunk : x.chunk(5)) {
      m->observe(chunk);
      mse->observe(chunk);
      ent->observe(chunk);
    }
    double full = lo_hi(*m).second;
    EXPECT_LT(lo_hi(*mse).second, 0.7 * full) << relu;
    EXPECT_LT(lo_hi(*ent).second, 0.9 * full) << relu;
    EXPECT_GT(lo_hi(*ent).second, 0.0) << relu;
    double e_minmax = quant_mse(*m, x);
    EXPECT_LT(quant_mse(*mse, x), 0.5 * e_minmax) << relu;
    EXPECT_LT(quant_mse(*ent, x), e_minmax) << relu;
    // MSE is the best of the three by construction (up to histogram resolution).
    EXPECT_LE(quant_mse(*mse, x), quant_mse(*ent, x) * 1.05) << relu;
  }
}

TEST(Observers, EntropyThresholdOfAUniformHistogramKeepsEverything) {
  // A flat distribution loses nothing by using its whole range: the KL is smallest at the end.
  at::Tensor counts = at::full({2048}, 100.0, at::kDouble);
  EXPECT_EQ(entropy_threshold_bin(counts, 8, true), 2048);
  // A bulk with a single far outlier: the threshold never cuts into the bulk.
  counts = at::zeros({2048}, at::kDouble);
  counts.slice(0, 0, 300).fill_(1000.0);
  counts[2000] = 1.0;
  EXPECT_GE(entropy_threshold_bin(counts, 8, true), 300);
}

TEST(Observers, HistogramGrowsWithFixedBinWidthAndMerges) {
  Histogram h(100);
  h.add(at::linspace(0, 1, 1000));
  EXPECT_EQ(h.size(), 100);
  double w = h.width();
  h.add(at::linspace(-1, 2, 1000));  // grows on both sides with the same width
  EXPECT_DOUBLE_EQ(h.width(), w);
  EXPECT_NEAR(h.size(), 300, 1);
  EXPECT_LE(h.lo(), -1.0);
  EXPECT_DOUBLE_EQ(h.counts().sum().item<double>(), 2000.0);
  h.add(at::tensor({100.0f}));  // far outlier: bins merge until the count is at most 4 * 100
  EXPECT_LE(h.size(), 400);
  EXPECT_GE(h.edge(h.size()), 100.0);
  EXPECT_DOUBLE_EQ(h.counts().sum().item<double>(), 2001.0);
}

TEST(Observers, HistogramObserversRejectPerChannelSpecs) {
  ObserverOptions o;
  o.type = "entropy";
  EXPECT_THROW(make_observer(o, spec("per_channel_symmetric", "qint8")), mc::InputError);
}
