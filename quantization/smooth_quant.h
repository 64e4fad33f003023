// SmoothQuant (Xiao et al. 2022, "SmoothQuant: Accurate and Efficient Post-Training Quantization
// for Large Language Models"): activation outliers sit in a few input channels of a linear layer,
// which makes a per-tensor activation scale coarse for every other channel. Per input channel j,
//   s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha),   X' = X / s,   W' = W * s   (X' W'^T = X W^T),
// moves part of the activation range into the weights (which are quantized per output channel).
// The 1/s is folded into the LayerNorm that produces X (its weight and bias divided by s), so the
// float function is unchanged and the graph gains no op. Linears that share one LayerNorm output
// (q, k, v; fc1) share s, with max|W_:,j| taken over all of them (as the paper's smooth_ln_fcs).
//
// Applied where exact: the linear's input is the output of a layer_norm over the last dimension
// with parameter weight (and bias), directly or through ops that keep the last-dim channels
// (a transpose/permute leaving the last dim in place, as TorchScript's attention reads [T, B, C];
// a reshape keeping its size; dropout), read only by such linears with static weights. Other linears (the
// attention out-projection after the matmul, fc2 after gelu) keep their weights; the summary
// says why for each. max|X_j| comes from calibration batches over the float model.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "data/loader.h"
#include "ir/model.h"
#include "pipeline/layer_select.h"
#include "recipe/options.h"

namespace mc::quant {

struct SmoothQuantOptions {
  double alpha = 0.5;  // migration strength: 0 keeps the activations, 1 moves all of their range into the weights
  void visit(recipe::Visitor& v);
};

struct SmoothedNorm {
  std::string norm;                 // the layer_norm's scope
  std::vector<std::string> layers;  // scopes of the linears reading it
  double min_scale = 1, max_scale = 1;
  double act_max_before = 0, act_max_after = 0;  // largest per-channel max|X_j| before and after (predicted: / s)
};

struct SmoothQuantSummary {
  std::vector<SmoothedNorm> smoothed;
  std::map<std::string, std::string> skipped;  // linear scope -> why it kept its weights
  int64_t samples = 0;
};

/// s_j from per-channel activation and weight maxima; 1 where either is 0 (nothing to migrate).
at::Tensor smoothing_scales(const at::Tensor& act_absmax, const at::Tensor& weight_absmax, double alpha);

/// Smooths every eligible LayerNorm -> linear group of the float model `m` in place, with max|X_j|
/// measured on `loader` (at most `max_samples` samples when > 0). Linears under an `exclude` glob
/// are not smoothed (nor is a LayerNorm any of whose readers is excluded).
SmoothQuantSummary smooth_quant(ir::Model& m, data::DataLoader& loader, const SmoothQuantOptions& o,
                                const std::vector<pipeline::ScopeGlob>& exclude = {}, int64_t max_samples = 0);

}  // namespace mc::quant
