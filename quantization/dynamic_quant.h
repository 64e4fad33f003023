// Dynamic INT8 (`quantize: {mode: dynamic}`): the weights of linear layers and of matmuls with a
// static weight get fake_quant nodes as in PTQ (the `weights` spec, per output channel by default),
// and their activation input a dynamic_quant node: uint8 with scale and zero point computed from
// each run's own min/max (ONNX's DynamicQuantizeLinear rule, src/ir/ops/quant.cpp), so no
// calibration is needed. Export turns each such layer into DynamicQuantizeLinear + MatMulInteger
// (export/dynamic_int8.h), the form ONNX Runtime's quantize_dynamic writes. Convolutions and
// matmuls of two activations (attention's q k^T, attn v) stay float.
#pragma once
#include <vector>

#include "ir/model.h"
#include "quantization/insert_qdq.h"

namespace mc::quant {

struct DynamicQuantSummary {
  std::vector<WeightQuantizer> weights;  // the quantized weights (one per layer)
  int64_t activation_quantizers = 0;     // dynamic_quant nodes (a value read by several layers has one)
};

/// Inserts the weight fake_quants and dynamic_quant nodes into the float model `m` (placement and
/// exclusions from `cfg`, as plan_qdq); verifies the graph.
DynamicQuantSummary quantize_dynamic(ir::Model& m, const QuantConfig& cfg);

}  // namespace mc::quant
