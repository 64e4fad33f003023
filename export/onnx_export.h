// ONNX writer (fp32, and QDQ for fake_quant nodes): ir::Model -> onnx::ModelProto, checked by the ONNX checker and shape
// inference in-process, written atomically. Per-op mappings live in export/ops/ (op_mapping.h).
#pragma once
#include <onnx/onnx_pb.h>

#include <map>
#include <string>

#include "ir/model.h"
#include "ir/passes/optimize.h"

namespace mc::exporter {

struct ExportOptions {
  int opset = 13;                  // 13..17
  bool dynamic_batch = true;       // dim 0 of the input (and of outputs that follow it) is "batch"
  std::string producer_version;    // written as producer_version (producer_name is "compress")
  std::string recipe_hash;         // metadata_props["recipe_hash"] when set
  std::map<std::string, std::string> metadata;  // more metadata_props
};

constexpr int kMinOpset = 13;
constexpr int kMaxOpset = 17;

/// Builds the ONNX model: initializers for `param`/`constant` tensors (named as in the store),
/// graph input(s) "input" (then "input_1", ...), output(s) "output" (then "output_1", ...), node names
/// from scopes (made unique). Runs onnx::checker::check_model and strict shape inference; the
/// returned model carries the inferred value_info.
/// Throws InputError for an unsupported opset, an op without a mapping ("op 'foo' at scope 'bar'
/// has no ONNX mapping") or attributes ONNX cannot express; mc::Error with the checker's message
/// when the result does not validate.
onnx::ModelProto to_onnx(const ir::Model& model, const ExportOptions& opts = {});

/// to_onnx, then writes the file atomically (nothing is left at `path` on failure; InputError
/// naming the path when its directory is not writable).
void export_onnx(const ir::Model& model, const std::string& path, const ExportOptions& opts = {});

/// The inference clean-up passes before an export (ir::passes::optimize), except constant folding
/// when the model holds fake_quant nodes (it would fold quantized constant weights back to float).
ir::passes::OptimizeSummary optimize_for_export(ir::Model& model);

/// IR ops that have an ONNX mapping (sorted).
std::vector<std::string> exportable_ops();

/// Ops that exist only during quantization-aware training (bn_qat, bn_fold_weight, binary_quant,
/// ternary_quant): the finetune stage after `quantize: {mode: qat}` converts them, so they have no
/// ONNX mapping and exporting them is an InputError saying so.
bool is_qat_training_op(const std::string& op);

}  // namespace mc::exporter
