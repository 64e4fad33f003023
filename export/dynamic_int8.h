// Dynamic INT8 in ONNX: the IR's dynamic_quant exports as DynamicQuantizeLinear -> DequantizeLinear
// (export/ops/quant.cpp). lower_dynamic_int8() rewrites each MatMul / Gemm that reads such a
// DequantizeLinear and an int8/uint8 weight initializer through its DequantizeLinear (and, for a
// linear on 3-d input, the Transpose of it) into the pattern ONNX Runtime's quantize_dynamic writes:
//
//   MatMulInteger(x_q, W_q[K, N], x_zero_point, W_zero_point) -> Cast(float)
//     -> Mul(x_scale * W_scale) (-> Add(bias) for a Gemm with a bias)
//
// which ORT fuses into DynamicQuantizeMatMul / MatMulIntegerToFloat (integer GEMM, float output).
// The same numbers as the DequantizeLinear form: sum_k (x_q - x_zp)(W_q - W_zp) is exact in int32,
// then one float multiply by x_scale * W_scale. The weight initializer is transposed in place to
// [K, N] when its reader was a Transpose or a Gemm with transB = 1 (per-channel scales follow the
// columns, as MatMulInteger's 1-d b_zero_point does). The dead DequantizeLinear / Transpose nodes
// are dropped by the exporter's clean-up. Consumers of another form keep the DequantizeLinear.
#pragma once
#include <onnx/onnx_pb.h>

namespace mc::exporter {

/// Returns how many MatMul / Gemm nodes became MatMulInteger.
int lower_dynamic_int8(onnx::GraphProto& graph);

}  // namespace mc::exporter
