/// Folds an inference batch_norm into the conv2d or linear layer that feeds it:
///
///   %h = conv2d[...](%x, %w, %b?) @conv1        %h = conv2d[...](%x, %w', %b') @conv1
///   %y = batch_norm[eps](%h, %g, %beta, %m, %v) ->  (uses of %y read %h)
///
/// with w' = w * gamma / sqrt(var + eps) per output channel and b' = (b - mean) * gamma /
/// sqrt(var + eps) + beta (b = 0 when the layer had no bias: a bias param is added). Grouped and
/// depthwise convs fold the same way (the weight's dim 0 is the output channel). A linear folds
/// when its output is [N, C] (batch_norm1d over features).
///
/// New weights keep their parameter names (see set_layer_params): the layer's own weight/bias
/// tensor is overwritten when nothing else uses it, otherwise `<scope>.weight` / `<scope>.bias`
/// param tensors are added. The batch_norm and its now-unused parameter nodes and tensors go.
///
/// Skipped (left alone): a batch_norm after anything but conv2d/linear; a layer output with another
/// user or that is a graph output; layer weight/bias not straight from param/constant nodes (e.g.
/// behind a fake_quant); batch_norm parameters that are not static (param/constant expressions);
/// a linear output of rank other than 2. The result is only valid in eval mode (running stats).
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>

#include "ir/passes/pass_util.h"

namespace mc::ir::passes {

/// Returns true when at least one batch_norm was folded. `keep(layer)`, when given, leaves the
/// batch_norm after a layer for which it returns true (the ONNX export keeps it after a layer whose
/// weight it writes as a codebook: folding scales each output channel and multiplies the distinct
/// values).
bool fold_batch_norm(Model& model, const std::function<bool(const Node& layer)>& keep = {});

/// Inference batch-norm parameters, each [C].
struct BatchNormParams {
  at::Tensor gamma;  // weight
  at::Tensor beta;   // bias
  at::Tensor mean;   // running_mean
  at::Tensor var;    // running_var
  double eps = 1e-5;
};

/// The weights of `layer` followed by `bn`, as one layer. `weight`: [C, ...] with dim 0 the output
/// channel (conv2d OIHW, linear [out, in]); `bias`: [C] or undefined (zero). Computed in double,
/// returned in the weight's dtype; the bias is always defined.
LayerWeights fold_bn_weights(const at::Tensor& weight, const at::Tensor& bias, const BatchNormParams& bn);

}  // namespace mc::ir::passes
