#include "quantization/observers.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace mc::quant {

// ---------------------------------------------------------------------------------------------
// Histogram

void Histogram::add(const at::Tensor& x_in) {
  at::Tensor x = x_in.detach().to(at::kFloat).reshape({-1});
  if (x.numel() == 0) return;
  auto mm = at::aminmax(x);
  double xmin = std::get<0>(mm).item<double>(), xmax = std::get<1>(mm).item<double>();
  if (!std::isfinite(xmin) || !std::isfinite(xmax)) throw RuntimeFailure("observer saw a non-finite value (NaN or inf)");
  if (!counts_.defined()) {
    lo_ = from_zero_ ? 0.0 : xmin;
    double span = xmax - lo_;
    if (span <= 0) span = std::max(std::abs(xmax), 1e-6);
    width_ = span / static_cast<double>(target_);
    counts_ = at::zeros({target_}, at::kDouble);
  } else {
    int64_t left = xmin < lo_ ? static_cast<int64_t>(std::ceil((lo_ - xmin) / width_)) : 0;
    double hi = edge(size());
    int64_t right = xmax > hi ? static_cast<int64_t>(std::ceil((xmax - hi) / width_)) : 0;
    if (left > 0 || right > 0) {
      counts_ = at::constant_pad_nd(counts_, {left, right}, 0.0);
      lo_ -= static_cast<double>(left) * width_;
    }
    while (size() > 4 * target_) {  // merge pairs of bins
      if (size() % 2) counts_ = at::constant_pad_nd(counts_, {0, 1}, 0.0);
      counts_ = counts_.view({-1, 2}).sum(1);
      width_ *= 2;
    }
  }
  // Guard against rounding: the bins must cover [xmin, xmax].
  while (edge(size()) < xmax) counts_ = at::constant_pad_nd(counts_, {0, 1}, 0.0);
  while (lo_ > xmin) {
    counts_ = at::constant_pad_nd(counts_, {1, 0}, 0.0);
    lo_ -= width_;
  }
  int64_t n = size();
  // histc counts values equal to the upper edge into the last bin; nothing lies outside.
  at::Tensor h = at::histc(x, n, lo_, edge(n));
  counts_ += h.to(at::kDouble);
}

at::Tensor Histogram::centers() const {
  return (at::arange(size(), at::kDouble) + 0.5).mul(width_).add(lo_).to(at::kFloat);
}

// ---------------------------------------------------------------------------------------------
// Observers

QParams Observer::qparams() const {
  auto [lo, hi] = range();
  return compute_qparams(spec_, lo, hi);
}

void Observer::track(const at::Tensor& x) {
  auto [lo, hi] = tensor_range(spec_, x);
  if (!min_.defined()) {
    min_ = lo;
    max_ = hi;
  } else {
    min_ = at::min(lo, min_);
    max_ = at::max(hi, max_);
  }
}

namespace {

class MinMaxObserver : public Observer {
 public:
  using Observer::Observer;
  void observe(const at::Tensor& x) override { track(x); }
  std::pair<at::Tensor, at::Tensor> range() const override { return {min_, max_}; }
  std::string name() const override { return "minmax"; }
  bool mergeable() const override { return true; }
};

class MovingAverageObserver : public Observer {
 public:
  MovingAverageObserver(QuantSpec s, double c) : Observer(std::move(s)), c_(c) {}
  void observe(const at::Tensor& x) override {
    track(x);
    auto [lo, hi] = tensor_range(spec_, x);
    if (!avg_min_.defined()) {
      avg_min_ = lo;
      avg_max_ = hi;
    } else {  // torch.ao: min_val + averaging_constant * (min_val_cur - min_val)
      avg_min_ = avg_min_ + c_ * (lo - avg_min_);
      avg_max_ = avg_max_ + c_ * (hi - avg_max_);
    }
  }
  std::pair<at::Tensor, at::Tensor> range() const override { return {avg_min_, avg_max_}; }
  std::string name() const override { return "moving_average"; }

 private:
  double c_;
  at::Tensor avg_min_, avg_max_;
};

class HistogramObserverBase : public Observer {
 public:
  HistogramObserverBase(QuantSpec s, int64_t bins, bool abs) : Observer(std::move(s)), hist_(bins, abs), abs_(abs) {}
  void observe(const at::Tensor& x) override {
    track(x);
    hist_.add(abs_ ? x.detach().abs() : x);
  }

 protected:
  // Clips [min_seen, max_seen] to [lo, hi].
  std::pair<at::Tensor, at::Tensor> clipped(double lo, double hi) const {
    double mn = min_.item<double>(), mx = max_.item<double>();
    return {at::scalar_tensor(std::max(mn, lo), at::kFloat), at::scalar_tensor(std::min(mx, hi), at::kFloat)};
  }
  Histogram hist_;
  bool abs_;
};

class PercentileObserver : public HistogramObserverBase {
 public:
  PercentileObserver(QuantSpec s, int64_t bins, double p) : HistogramObserverBase(std::move(s), bins, false), p_(p) {}
  std::pair<at::Tensor, at::Tensor> range() const override {
    if (empty()) return {min_, max_};
    at::Tensor cdf = hist_.counts().cumsum(0);
    double total = cdf[-1].item<double>();
    auto point = [&](double q) {  // value below which a fraction q of the samples lies (linear in a bin)
      double target = q * total;
      int64_t i = at::searchsorted(cdf, at::scalar_tensor(target, at::kDouble)).item<int64_t>();
      i = std::min(i, hist_.size() - 1);
      double before = i > 0 ? cdf[i - 1].item<double>() : 0.0;
      double in_bin = hist_.counts()[i].item<double>();
      double frac = in_bin > 0 ? (target - before) / in_bin : 0.0;
      return hist_.edge(i) + std::clamp(frac, 0.0, 1.0) * hist_.width();
    };
    return clipped(point(1.0 - p_ / 100.0), point(p_ / 100.0));
  }
  std::string name() const override { return "percentile"; }

 private:
  double p_;
};

class MseObserver : public HistogramObserverBase {
 public:
  MseObserver(QuantSpec s, int64_t bins) : HistogramObserverBase(std::move(s), bins, false) {}
  std::pair<at::Tensor, at::Tensor> range() const override {
    if (empty()) return {min_, max_};
    at::Tensor c = hist_.centers(), n = hist_.counts();
    double mn = min_.item<double>(), mx = max_.item<double>();
    double best = std::numeric_limits<double>::infinity(), best_a = 1.0;
    constexpr int kSteps = 200;
    for (int k = kSteps; k >= 1; --k) {  // ties keep the wider range
      double a = static_cast<double>(k) / kSteps;
      at::Tensor lo = at::scalar_tensor(mn * a, at::kFloat), hi = at::scalar_tensor(mx * a, at::kFloat);
      double err = histogram_quant_error(spec_, c, n, compute_qparams(spec_, lo, hi));
      if (err < best) {
        best = err;
        best_a = a;
      }
    }
    return {at::scalar_tensor(mn * best_a, at::kFloat), at::scalar_tensor(mx * best_a, at::kFloat)};
  }
  std::string name() const override { return "mse"; }
};

class EntropyObserver : public HistogramObserverBase {
 public:
  EntropyObserver(QuantSpec s, int64_t bins) : HistogramObserverBase(std::move(s), bins, true), bins_(bins) {}
  std::pair<at::Tensor, at::Tensor> range() const override {
    if (empty()) return {min_, max_};
    // TensorRT searches a histogram of at most `bins` (2048) bins: merge adjacent bins of the grown
    // histogram k at a time (k = 1 while it has not grown), so the search stays O(bins^2 / stride).
    at::Tensor counts = hist_.counts().to(at::kDouble);
    const int64_t n = counts.size(0);
    const int64_t k = (n + bins_ - 1) / bins_;
    if (k > 1) counts = at::constant_pad_nd(counts, {0, k * ((n + k - 1) / k) - n}).reshape({-1, k}).sum(1);
    // The levels the quantizer has for |x|: 2^(bits-1) on a signed grid (symmetric int8: 128,
    // whatever the sign of the data), 2^bits on an unsigned one (pytorch-quantization's `unsigned`).
    const bool unsigned_grid = qrange(spec_).quant_min >= 0;
    int64_t start = std::min<int64_t>(128, counts.size(0));
    int64_t i = entropy_threshold_bin(counts, spec_.bits, unsigned_grid, start);
    double amax = hist_.edge(std::min(i * k, n));
    return clipped(-amax, amax);
  }
  std::string name() const override { return "entropy"; }

 private:
  int64_t bins_;
};

}  // namespace

std::unique_ptr<Observer> make_observer(const ObserverOptions& o, const QuantSpec& spec) {
  if (o.type == "minmax") return std::make_unique<MinMaxObserver>(spec);
  if (o.type == "moving_average") return std::make_unique<MovingAverageObserver>(spec, o.averaging_constant);
  if (spec.per_channel())
    throw InputError("observer '" + o.type + "' is per-tensor only; use qscheme per_tensor_affine or per_tensor_symmetric, "
                     "or observer minmax/moving_average");
  if (o.type == "percentile") return std::make_unique<PercentileObserver>(spec, o.bins, o.percentile);
  if (o.type == "mse") return std::make_unique<MseObserver>(spec, o.bins);
  if (o.type == "entropy") return std::make_unique<EntropyObserver>(spec, o.bins);
  throw InputError("unknown observer '" + o.type + "' (known: minmax, moving_average, percentile, mse, entropy)");
}

int64_t entropy_threshold_bin(const at::Tensor& counts_in, int64_t bits, bool unsigned_grid, int64_t start_bin,
                              int64_t stride) {
  at::Tensor ct = counts_in.to(at::kDouble).contiguous();
  std::vector<double> bins(ct.data_ptr<double>(), ct.data_ptr<double>() + ct.numel());
  const int64_t n = static_cast<int64_t>(bins.size());
  if (n < 2) return n;
  bins[0] = bins[1];  // the spike at zero would dominate the divergence
  const int64_t nq = int64_t(1) << (bits - 1 + (unsigned_grid ? 1 : 0));
  std::vector<double> tail(n + 1, 0.0);  // tail[i] = sum(bins[i:])
  for (int64_t i = n - 1; i >= 0; --i) tail[i] = tail[i + 1] + bins[i];
  std::vector<double> qsum(nq), qnz(nq), p, q;
  double best = std::numeric_limits<double>::infinity();
  int64_t best_i = n;
  for (int64_t i = start_bin; i <= n; i += stride) {
    // Quantize bins[0:i] into nq levels: bin j -> level floor(j * nq / i); each level's mass is
    // spread evenly over its non-empty bins.
    std::fill(qsum.begin(), qsum.end(), 0.0);
    std::fill(qnz.begin(), qnz.end(), 0.0);
    for (int64_t j = 0; j < i; ++j) {
      if (bins[j] == 0) continue;
      int64_t l = j * nq / i;
      qsum[l] += bins[j];
      qnz[l] += 1;
    }
    p.assign(bins.begin(), bins.begin() + i);
    p[i - 1] += tail[i];
    q.assign(i, 0.0);
    double psum = 0, qtot = 0;
    for (int64_t j = 0; j < i; ++j) {
      if (bins[j] != 0) q[j] = qsum[j * nq / i] / qnz[j * nq / i];
      psum += p[j];
      qtot += q[j];
    }
    double kl = 0;  // scipy.stats.entropy(p, q): sum p log(p / q), inf where p > 0 and q == 0
    for (int64_t j = 0; j < i && std::isfinite(kl); ++j) {
      if (p[j] <= 0) continue;
      if (q[j] <= 0) {
        kl = std::numeric_limits<double>::infinity();
        break;
      }
      double pj = p[j] / psum, qj = q[j] / qtot;
      kl += pj * std::log(pj / qj);
    }
    if (kl <= best) {  // the last minimum, like pytorch-quantization
      best = kl;
      best_i = i;
    }
  }
  return best_i;
}

double histogram_quant_error(const QuantSpec& spec, const at::Tensor& centers, const at::Tensor& counts, const QParams& q) {
  QuantSpec pt = spec;
  if (pt.per_channel()) pt.qscheme = pt.symmetric() ? "per_tensor_symmetric" : "per_tensor_affine";
  at::Tensor d = centers - fake_quantize(pt, centers, q);
  return (d.to(at::kDouble).square() * counts).sum().item<double>();
}

}  // namespace mc::quant
