/// Folds a per-channel scale or shift right after a conv2d/linear into the layer's weights:
///
///   %h = conv2d(%x, %w, %b?)           %h = conv2d(%x, %w', %b')
///   %s = param[name="scale"]()    ->   (uses of %y read %h)
///   %y = mul(%h, %s)
///
///   mul(h, s) / mul(s, h):  w' = w * s,  b' = b * s     div(h, s): w' = w / s,  b' = b / s
///   add(h, t) / add(t, h):  b' = b + t                  sub(h, t): b' = b - t
/// (per output channel; a missing bias counts as zero and is added as a param when needed).
///
/// Folds only when exact: the other operand is static (param/constant, or an expression of them
/// such as a reshape), has the weight's dtype, and broadcasts against the layer output as a scalar
/// or along the channel axis alone (conv2d: [C,1,1], [1,C,1,1], [1], []; linear: [C], [1,C]),
/// so the result keeps the layer output's shape; a division needs a scale without zeros. The layer
/// output must have no other user and be no graph output; the layer's weight/bias must come
/// straight from param/constant nodes. Chains (mul then add) fold one after the other. Naming
/// follows set_layer_params.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "ir/passes/pass_util.h"

namespace mc::ir::passes {

/// Returns true when at least one mul/div/add/sub was folded.
bool fold_scale_shift(Model& model);

/// `t` as a [channels] vector when broadcasting it against a value of rank `rank` varies only
/// along `axis` (size `channels`): t.dim() <= rank and, right-aligned, every dim is 1 except the
/// one at `axis`, which is 1 or `channels`. Undefined tensor otherwise.
at::Tensor per_channel_vector(const at::Tensor& t, int64_t rank, int64_t axis, int64_t channels);

/// The layer weights after folding `h op v` (op: "mul", "div", "add", "sub"; v: [C] per output
/// channel) into them. The weight is unchanged for add/sub; the bias stays undefined for mul/div
/// of a layer without bias. Computed in double, returned in the weight's dtype.
LayerWeights fold_scale_shift_weights(const at::Tensor& weight, const at::Tensor& bias, const std::string& op,
                                      const at::Tensor& v);

}  // namespace mc::ir::passes
