// AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training Quantization"):
// instead of rounding each weight to the nearest grid point, learn per weight whether it rounds
// down or up so that the layer's output on calibration data changes least.
//
// Per conv2d/linear with a quantized weight (scale s, zero point z, grid [n, p] kept as inserted):
//   W~(V) = s * (clamp(floor(W/s) + h(V) + z, n, p) - z),  h(V) = clamp(sigmoid(V)(zeta-gamma)+gamma, 0, 1)
//   minimise  sum_rows ||W x_f - W~ x_q||^2 / rows  +  reg_weight * sum(1 - |2h(V)-1|^beta)
// with zeta = 1.1, gamma = -0.1, V initialised so that h(V) = frac(W/s) (W~ starts at W), Adam on
// V, no regulariser during the first `warmup` fraction of the iterations, then beta annealed
// linearly from beta[0] to beta[1]. The result is floor(W/s) + (h(V) >= 0.5), clamped to the grid.
//
// Reconstruction target (`asymmetric`, the paper's "asymmetric reconstruction", default): x_q is
// the layer's input in the fake-quantized model as built so far (earlier layers already AdaRounded,
// activations quantized), the target W x_f is the float model's layer output on its own float
// input, so each layer also compensates the error accumulated before it. asymmetric: false uses
// W x_q as the target (the quantized model's inputs only).
//
// The loss is quadratic in W~, so it is computed from sufficient statistics gathered once per
// layer over the calibration batches (LayerStats): the Gram matrix of the layer's input patches
// (im2col rows) and the target-patch cross term. Every iteration then uses all calibration rows
// exactly, at the cost of one [Cout x K] x [K x K] product (K = Cin/groups * kh * kw), with no
// minibatch noise and no stored activations.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "data/loader.h"
#include "ir/model.h"
#include "quantization/insert_qdq.h"

namespace mc::quant {

struct AdaRoundOptions {
  int64_t iterations = 1000;
  double reg_weight = 0.01;
  std::vector<double> beta = {20.0, 2.0};  // annealed from beta[0] to beta[1]
  double warmup = 0.2;                      // fraction of iterations without the regulariser
  double lr = 0.01;                         // Adam on V
  int64_t batches = 4;                      // calib batches for the statistics (0 = all)
  bool all_bits = false;                    // also weights wider than 4 bits
  bool asymmetric = true;
  static constexpr double zeta = 1.1, gamma = -0.1;
};

/// How a layer maps its input to im2col rows.
struct LayerGeometry {
  bool conv = false;  // conv2d, else linear
  std::vector<int64_t> kernel, stride, padding, dilation;
  int64_t groups = 1;
  /// From a conv2d/linear node and its weight; throws mc::Error for other ops.
  static LayerGeometry of(const ir::Node& layer, const at::Tensor& weight);
  /// The layer without bias: conv2d(x, w) / linear(x, w).
  at::Tensor apply(const at::Tensor& x, const at::Tensor& w) const;
};

/// Sufficient statistics of the reconstruction loss of one layer (double precision).
struct LayerStats {
  at::Tensor gram;   // [groups, K, K]: sum of x_q patch outer products
  at::Tensor cross;  // [groups, Cout/groups, K]: sum of target (x) x_q patch
  double target_sq = 0.0;  // sum of squared targets
  int64_t rows = 0;        // output positions (N * Ho * Wo, or N * ... for linear)
  int64_t out_channels = 0;
  /// Adds a batch: the quantized layer's input `x_q` and the target output `y` (no bias).
  void add(const LayerGeometry& g, const at::Tensor& x_q, const at::Tensor& y);
  /// Mean squared error per output element of weight `w` (Cout x ...) on the gathered rows.
  double mse(const at::Tensor& w) const;
};

/// The quantized weight's grid: w_q = s * (clamp(round(w/s) + z, n, p) - z), per channel along
/// dim 0 (scale/zero_point of Cout elements) or per tensor (one element).
struct WeightGrid {
  at::Tensor scale, zero_point;
  int64_t quant_min = -8, quant_max = 7;
};

struct RoundingResult {
  at::Tensor weight;         // the AdaRounded weight, on the grid (fake_quant reproduces it exactly)
  at::Tensor nearest;        // round-to-nearest (the fake_quant of the float weight)
  double mse_nearest = 0.0, mse_adaround = 0.0;
  int64_t changed = 0;       // weights rounded differently from nearest
};

/// Optimises the rounding of `w` on `grid` for `stats`. `progress(iteration, loss)` is called
/// every iteration when given.
RoundingResult adaround_weight(const at::Tensor& w, const WeightGrid& grid, const LayerStats& stats,
                               const AdaRoundOptions& o,
                               const std::function<void(int64_t, double)>& progress = nullptr);

struct AdaRoundLayer {
  std::string layer;  // scope
  int64_t bits = 0;
  int64_t weights = 0;
  double mse_nearest = 0.0, mse_adaround = 0.0;
  double changed_fraction = 0.0;
  double seconds = 0.0;
};

struct AdaRoundSummary {
  std::vector<AdaRoundLayer> layers;
  std::vector<std::pair<std::string, std::string>> skipped;  // (scope, why)
  int64_t samples = 0;  // calibration samples per layer
};

/// The weights with this many bits or fewer are AdaRounded unless all_bits.
constexpr int64_t kAdaRoundMaxBits = 4;

/// AdaRounds every selected weight of `m` (the quantized model of `plan`, after insert_qdq), in
/// graph order, writing the chosen grid values into the weight tensors. `float_model` is `m`
/// before insert_qdq (used for the asymmetric targets). Runs `loader` once or twice per layer.
AdaRoundSummary adaround(ir::Model& m, const ir::Model& float_model, const QuantPlan& plan, data::DataLoader& loader,
                         const AdaRoundOptions& o);

}  // namespace mc::quant
