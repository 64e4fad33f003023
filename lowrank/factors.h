/// The factors a low-rank decomposition produces, as layer weights ready for the graph rewrite
/// (lowrank/rewrite.h). Pure data: the numerics are in svd.h, tucker.h, cp_als.h.
///
/// A conv2d weight W is [N, C, kh, kw] (N output channels, C input channels). Each method replaces
/// the conv by a chain of convs whose weights are `ConvFactors::weights`, in execution order:
///
///   method        factor weights (in order)                         geometry of the chain
///   channel_svd   [r, C, kh, kw], [N, r, 1, 1]                       k x k (stride, padding, dilation), 1 x 1
///   spatial_svd   [r, C, kh, 1],  [N, r, 1, kw]                      vertical half, horizontal half
///   tucker2       [r_in, C, 1, 1], [r_out, r_in, kh, kw], [N, r_out, 1, 1]   1 x 1, core (geometry), 1 x 1
///   cp            [R, C, 1, 1], [R, 1, kh, 1], [R, 1, 1, kw], [N, R, 1, 1]   1 x 1, depthwise vertical,
///                                                                   depthwise horizontal, 1 x 1
///
/// The original bias always goes on the last factor. `linear` y = W x + b (W: [out, in]) becomes
/// h = first x, y = second h + b with first [r, in], second [out, r].
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace mc::lowrank {

enum class ConvMethod { channel_svd, spatial_svd, tucker2, cp };

/// "channel_svd", "spatial_svd", "tucker2", "cp" (the recipe spelling).
std::string method_name(ConvMethod m);

/// y = second (first x): first [r, in], second [out, r].
struct LinearFactors {
  at::Tensor first;
  at::Tensor second;
};

/// A conv2d's replacement chain (see the table above).
struct ConvFactors {
  ConvMethod method = ConvMethod::channel_svd;
  std::vector<at::Tensor> weights;
};

}  // namespace mc::lowrank
