// The weight of a layer node: the `param` tensor a conv2d / linear reads as its weight, or the
// 2-d `param` operand of a matmul, directly or behind one fake_quant. Shared by the stages'
// layer selection (pipeline/layer_select.h) and the .mcz archive (ir/mcz/packable_weights.h).
#pragma once
#include "ir/graph.h"

namespace mc::ir {

/// The param node behind a value: its producer, or the input of a fake_quant producing it.
const Node* param_producer(const Value* v);

/// The weight param node of a conv2d / linear / matmul node; nullptr for other nodes and for
/// layers whose weight is computed (not a param).
const Node* weight_param(const Node& layer);

}  // namespace mc::ir
