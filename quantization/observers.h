// Observers: collect statistics of a tensor over calibration batches and choose the float range
// its quantizer covers. All of them feed compute_qparams() (quantizer.h) with the chosen range.
//
//   minmax          running min/max (torch.ao MinMaxObserver / PerChannelMinMaxObserver)
//   moving_average  min/max averaged over batches with `averaging_constant` (torch.ao
//                   MovingAverage[PerChannel]MinMaxObserver)
//   percentile      the `percentile` and 100 - `percentile` points of a histogram of the values
//   mse             the clipping range [a*min, a*max], a in (0, 1], with the smallest quantization
//                   MSE of the histogram's bin centres (weighted by counts)
//   entropy         TensorRT's entropy calibrator: a histogram of |x| (2048 bins at first), the
//                   threshold whose quantized distribution has the smallest KL divergence to the
//                   clipped reference distribution (pytorch-quantization's _compute_amax_entropy)
//
// Histogram observers are per-tensor (activations); min-max observers also per-channel (weights).
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "quantization/quantizer.h"

namespace mc::quant {

struct ObserverOptions {
  std::string type = "minmax";      // minmax | moving_average | percentile | mse | entropy
  double averaging_constant = 0.01;  // moving_average
  double percentile = 99.99;         // percentile
  int64_t bins = 2048;               // histogram observers
};

/// A growing histogram with a fixed bin width after the first batch (new values outside the range
/// add bins of the same width, pytorch-quantization's HistogramCalibrator). When the bin count
/// exceeds 4 * `bins`, adjacent bins are merged (the width doubles).
class Histogram {
 public:
  /// `from_zero`: the first bin starts at 0 (histograms of |x|).
  explicit Histogram(int64_t bins = 2048, bool from_zero = false) : target_(bins), from_zero_(from_zero) {}
  void add(const at::Tensor& x);
  bool empty() const { return !counts_.defined(); }
  const at::Tensor& counts() const { return counts_; }  // f64 [n]
  double lo() const { return lo_; }
  double width() const { return width_; }
  int64_t size() const { return counts_.defined() ? counts_.size(0) : 0; }
  double edge(int64_t i) const { return lo_ + width_ * static_cast<double>(i); }
  at::Tensor centers() const;  // f32 [n]

 private:
  int64_t target_;
  bool from_zero_;
  double lo_ = 0, width_ = 0;
  at::Tensor counts_;
};

class Observer {
 public:
  explicit Observer(QuantSpec spec) : spec_(std::move(spec)) {}
  virtual ~Observer() = default;
  virtual void observe(const at::Tensor& x) = 0;
  /// The range to quantize: 0-d tensors (per tensor) or [C] (per channel).
  virtual std::pair<at::Tensor, at::Tensor> range() const = 0;
  virtual std::string name() const = 0;
  QParams qparams() const;
  /// Smallest and largest values seen (per channel for per-channel specs).
  const at::Tensor& min_seen() const { return min_; }
  const at::Tensor& max_seen() const { return max_; }
  bool empty() const { return !min_.defined(); }
  const QuantSpec& spec() const { return spec_; }
  /// Whether range() depends only on the min/max seen, not on the order or grouping of the
  /// batches (minmax): then observers of disjoint shards of the data, their min/max merged with
  /// set_seen(), choose exactly the range one observer of all the data would.
  virtual bool mergeable() const { return false; }
  /// Replaces the min/max seen (the values merged across the ranks of a data-parallel run).
  void set_seen(at::Tensor lo, at::Tensor hi) {
    min_ = std::move(lo);
    max_ = std::move(hi);
  }

 protected:
  void track(const at::Tensor& x);  // updates min_/max_ (torch.ao's running min/max)
  QuantSpec spec_;
  at::Tensor min_, max_;
};

/// Builds the observer `o.type` for a quantizer `spec`. Histogram observers need a per-tensor spec
/// (InputError otherwise).
std::unique_ptr<Observer> make_observer(const ObserverOptions& o, const QuantSpec& spec);

/// TensorRT's entropy threshold for a histogram of |x| whose bin i covers [i*w, (i+1)*w):
/// returns the bin edge index i (the threshold is i * w) in [start_bin, size] minimising
/// KL(reference || quantized), where the reference is counts[:i] with the clipped tail added to
/// its last bin and the quantized distribution spreads counts[:i] over 2^(bits-1) levels
/// (2^bits when `unsigned_grid`: the quantizer's grid has no negative levels). counts[0] is
/// replaced by counts[1] (the spike at zero). pytorch-quantization's _compute_amax_entropy.
int64_t entropy_threshold_bin(const at::Tensor& counts, int64_t bits, bool unsigned_grid, int64_t start_bin = 128,
                              int64_t stride = 1);

/// Sum over bins of counts * (centre - fake_quantize(centre))^2 for qparams `q` of `spec`.
double histogram_quant_error(const QuantSpec& spec, const at::Tensor& centers, const at::Tensor& counts, const QParams& q);

}  // namespace mc::quant
