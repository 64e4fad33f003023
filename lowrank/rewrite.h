/// Replaces a linear / matmul / conv2d node by the chain of its low-rank factors (lowrank/factors.h):
///
///   %y = linear(%x, %w, %b) @fc            %h = linear(%x, %w0) @fc.lr0          (w0 = first  [r, in])
///                                    ->    %y' = linear(%h, %w1, %b) @fc.lr1     (w1 = second [out, r])
///
///   %y = matmul(%x, %w) @fc  (x @ W, W [in, out])  ->  matmul(matmul(%x, first^T), second^T)
///   %y = matmul(%w, %x) @fc  (W @ x, W [out, in])  ->  matmul(second, matmul(first, %x))
///
///   %y = conv2d[stride, padding, dilation](%x, %w, %b) @conv1
///     -> conv2d @conv1.lr0 -> conv2d @conv1.lr1 [-> ...], geometry per method:
///        channel_svd  k x k (stride, padding, dilation)  -> 1 x 1
///        spatial_svd  kh x 1 (stride [sh, 1], padding [ph, 0], dilation [dh, 1])
///                     -> 1 x kw (stride [1, sw], padding [0, pw], dilation [1, dw])
///        tucker2      1 x 1 -> kh x kw core (stride, padding, dilation) -> 1 x 1
///        cp           1 x 1 -> depthwise kh x 1 (groups R, vertical stride/padding/dilation)
///                     -> depthwise 1 x kw (groups R, horizontal ones) -> 1 x 1
///
/// Every method keeps stride, padding and dilation exactly (a 1 x 1 conv without bias commutes
/// with zero padding; the vertical and horizontal halves of a separable kernel each see one axis).
/// New nodes take the layer's scope with `.lr0`, `.lr1`, ... (`lr0`, ... without a scope), their
/// weights are new `param` tensors named from the original weight's name: `fc.weight` ->
/// `fc.lr0.weight` (a name not ending in `.weight` gets `.lr0` appended), made unique by the store.
/// The original bias value moves to the last factor; the original weight's param node (and its
/// tensor) is removed when nothing else uses it. The last factor's output takes over every use
/// of the old output (graph outputs included). Types of the new values are set node by node.
///
/// Refused with an mc::InputError naming the node (scope): a weight produced by a quantizer
/// (fake_quant, binary_quant, ternary_quant: "decompose before quantize"), a weight that is not a
/// stored tensor, a grouped conv (groups != 1), a weight of the wrong rank. Factors whose shapes do
/// not fit the layer are an mc::Error (a caller bug).
#pragma once
#include <ATen/core/Tensor.h>

#include "ir/model.h"
#include "lowrank/factors.h"

namespace mc::lowrank {

/// The weight of a linear or matmul node as a linear layer's [out, in] matrix (the transpose of a
/// matmul's right-hand W). Throws as described above when the node cannot be decomposed.
at::Tensor linear_weight(const ir::Model& m, const ir::Node* n);

/// The [N, C, kh, kw] weight of a conv2d node (groups 1). Throws as described above.
at::Tensor conv_weight(const ir::Model& m, const ir::Node* n);

/// Replaces `n` (linear or matmul with a stored 2-d weight) by the two factors.
void decompose_linear(ir::Model& m, ir::Node* n, const LinearFactors& f);

/// Replaces conv2d `n` by the chain of `f.method`.
void decompose_conv(ir::Model& m, ir::Node* n, const ConvFactors& f);

}  // namespace mc::lowrank
