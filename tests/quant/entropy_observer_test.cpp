// The entropy (KL) observer, TensorRT's calibrator: the threshold search against a hand
// computation, the number of levels taken from the quantizer's grid (not from the data's sign),
// and the search width capped at 2048 bins.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>

#include "quantization/observers.h"
#include "quantization/quantizer.h"

using namespace mc::quant;

namespace {

QuantSpec spec(const std::string& qscheme, const std::string& dtype, int64_t bits = 8) {
  QuantSpec s;
  s.qscheme = qscheme;
  s.dtype = dtype;
  s.bits = bits;
  return s;
}

at::Tensor counts(std::vector<double> v) { return at::tensor(v, at::kDouble); }

}  // namespace

// Hand computation, 2-bit signed grid (2 levels for |x|), thresholds at bins 2..8 of
// [9, 4, 6, 3, 1, 2, 0, 1] (bin 0 := bin 1, so [4, 4, 6, 3, 1, 2, 0, 1]). At i = 4: reference
// p = [4, 4, 6, 3+1+2+0+1] / 21; levels {0,1} -> (4+4)/2, {2,3} -> (6+3)/2, so q = [4, 4, 4.5, 4.5] / 17;
// KL = 2 * 4/21 ln((4/21)/(4/17)) + 6/21 ln((6/21)/(4.5/17)) + 7/21 ln((7/21)/(4.5/17)) = 0.01816,
// the smallest of the seven (i=2: 0.2062, 3: 0.0732, 5: 0.0489, 6: 0.0471, 7: inf (empty last bin
// with tail mass), 8: 0.0369). With an unsigned grid (4 levels) i = 8 wins (0.0324 < 0.0341 at i=6).
// (Values from a transcription of pytorch-quantization's _compute_amax_entropy in numpy.)
TEST(EntropyObserver, ThresholdMatchesTheHandComputedKlMinimum) {
  EXPECT_EQ(entropy_threshold_bin(counts({9, 4, 6, 3, 1, 2, 0, 1}), 2, false, 2), 4);
  EXPECT_EQ(entropy_threshold_bin(counts({9, 4, 6, 3, 1, 2, 0, 1}), 2, true, 2), 8);
  // A second histogram: signed 4 (KL 0.0351), unsigned 12 (0.0458).
  EXPECT_EQ(entropy_threshold_bin(counts({7, 5, 8, 2, 1, 1, 0, 1, 3, 0, 0, 1}), 2, false, 2), 4);
  EXPECT_EQ(entropy_threshold_bin(counts({7, 5, 8, 2, 1, 1, 0, 1, 3, 0, 0, 1}), 2, true, 2), 12);
}

// ReLU outputs (all >= 0) under a symmetric int8 quantizer have 128 levels, not 256: the observer
// searches with the grid's levels. Its threshold is the search's on the |x| histogram it built.
TEST(EntropyObserver, LevelsComeFromTheGridNotFromTheSignOfTheData) {
  at::manual_seed(3);
  at::Tensor u = at::rand({200000}) * 0.999998 + 1e-6;
  at::Tensor x = at::relu(-at::log(u) * at::sign(at::rand({200000}) - 0.5));  // half zeros, Laplace tail
  ObserverOptions eo;
  eo.type = "entropy";
  for (bool signed_grid : {true, false}) {
    SCOPED_TRACE(signed_grid ? "qint8 symmetric" : "quint8 affine");
    QuantSpec s = signed_grid ? spec("per_tensor_symmetric", "qint8") : spec("per_tensor_affine", "quint8");
    auto o = make_observer(eo, s);
    Histogram h(2048, true);
    o->observe(x);  // one batch: the histogram keeps its 2048 bins (no merging, see below)
    h.add(x.abs());
    ASSERT_EQ(h.size(), 2048);
    int64_t i = entropy_threshold_bin(h.counts(), 8, !signed_grid, 128);
    // The range is [-t, t] clipped to the data's [min, max] (here [0, max x] for the full range).
    double want = std::min(h.edge(i), x.max().item<double>());
    EXPECT_NEAR(o->range().second.item<double>(), want, 1e-6 * want);
    EXPECT_NE(i, entropy_threshold_bin(h.counts(), 8, signed_grid, 128)) << "the levels make no difference here";
  }
}

// A grown histogram (a late outlier batch: up to 4x the bins) is merged down to at most 2048 bins
// before the search, as TensorRT's fixed 2048-bin histogram: the threshold is a multiple of the
// merged width and the search stays fast (quadratic in 2048, not in 8192).
TEST(EntropyObserver, GrownHistogramIsSearchedAtMost2048BinsWide) {
  at::manual_seed(4);
  ObserverOptions eo;
  eo.type = "entropy";
  auto o = make_observer(eo, spec("per_tensor_symmetric", "qint8"));
  Histogram h(2048, true);
  at::Tensor a = at::randn({50000}), b = at::randn({50000}) * 3.5;  // second batch grows the histogram
  for (const at::Tensor& t : {a, b}) {
    o->observe(t);
    h.add(t.abs());
  }
  ASSERT_GT(h.size(), 2048);
  const int64_t k = (h.size() + 2047) / 2048;
  at::Tensor merged = at::constant_pad_nd(h.counts().to(at::kDouble), {0, k * ((h.size() + k - 1) / k) - h.size()})
                          .reshape({-1, k})
                          .sum(1);
  ASSERT_LE(merged.size(0), 2048);
  int64_t i = entropy_threshold_bin(merged, 8, false, 128);
  double amax = o->range().second.item<double>();
  double max_x = std::max(a.max().item<double>(), b.max().item<double>());
  EXPECT_NEAR(amax, std::min(h.edge(std::min(i * k, h.size())), max_x), 1e-6 * amax);
  EXPECT_LT(amax, b.abs().max().item<double>());  // clips the tail
  EXPECT_GT(amax, 3.0);                           // but not into the bulk
}
