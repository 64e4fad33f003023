// TensorRT explicit-quantization rules checker: reads a QDQ ONNX graph and tells, per compute node,
// whether TensorRT would run it in INT8 or fall back to float, and why; and lists the Q/DQ nodes
// that break TensorRT's rules.
//
// Rules (TensorRT "explicit quantization", INT8):
//   - QuantizeLinear / DequantizeLinear are INT8 (a uint8 zero-point, or none, which means uint8,
//     is rejected), symmetric (zero-point 0), with positive finite scales given as initializers;
//   - per-channel scales only on weights (a DequantizeLinear of an initializer, or of a
//     QuantizeLinear of one) and only along the consumer's output-channel axis: Conv 0,
//     ConvTranspose 1, Gemm 0 with transB=1 (else 1), MatMul the weight's last axis;
//   - Conv / ConvTranspose / Gemm / MatMul run in INT8 when their data input and their weight both
//     come from (valid) DequantizeLinear nodes, looking through data-movement ops (Reshape,
//     Transpose, Flatten, MaxPool, ...) that TensorRT moves Q/DQ across;
//   - a residual Add (two computed inputs) runs in INT8 only when both inputs are dequantized;
//   - INT4 / UINT4 (opset 21 exports): TensorRT 10 has INT4 as weight-only quantization of
//     MatMul / Gemm weights (per-tensor, per-channel or block scales); a UINT4 Q/DQ or an INT4
//     activation (rule "int4") and an INT4 Conv / ConvTranspose weight (rule "int4_conv") are
//     violations.
#pragma once
#include <onnx/onnx_pb.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mc::exporter {

/// One compute node and how TensorRT would run it.
struct TrtNodeVerdict {
  std::string node;    // ONNX node name (the IR scope, e.g. "layer3.0.conv1")
  std::string op;      // ONNX op type
  bool int8 = false;
  std::string reason;  // why not INT8 (empty when INT8)
};

/// A Q/DQ node that breaks a rule.
struct TrtViolation {
  std::string node;
  std::string rule;     // "int8", "symmetric", "scale", "per_channel_axis", "per_channel_activation", "qparams_constant",
                        // "int4", "int4_conv"
  std::string message;  // full sentence naming the node and the fix
};

struct TrtCheckResult {
  std::vector<TrtNodeVerdict> nodes;
  std::vector<TrtViolation> violations;
  int int8_nodes() const;
  int float_nodes() const;
  /// True when every listed node runs in INT8 and no rule is broken.
  bool ok() const { return violations.empty() && float_nodes() == 0; }
  /// Human-readable table: one line per node, then the violations.
  std::string table() const;
  nlohmann::json to_json() const;
};

/// Checks an ONNX model in memory.
TrtCheckResult check_tensorrt(const onnx::ModelProto& model);
/// Loads `path` (InputError when missing or not an ONNX model) and checks it.
TrtCheckResult check_tensorrt_file(const std::string& path);

}  // namespace mc::exporter
