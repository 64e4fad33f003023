// ONNX writer (fp32, and QDQ for fake_quant nodes): ir::Model -> onnx::ModelProto, checked by the ONNX checker and shape
// inference in-process where the ONNX library knows the opset (<= 17 here), written atomically. Per-op mappings live in export/ops/ (op_mapping.h).
#pragma once
#include <onnx/onnx_pb.h>

#include <map>
#include <string>

#include "ir/model.h"
#include "ir/passes/optimize.h"

namespace mc::exporter {

/// How conv / linear / matmul weights with at most 256 distinct values are stored
/// (export/codebook_weights.h): automatic = as a codebook where that makes the file smaller.
enum class CodebookWeights { automatic, always, never };

/// Whether conv / linear / matmul weights with zeros (pruned) are written as ONNX sparse
/// initializers (export/sparse_initializers.h): automatic = where that makes the file smaller,
/// always = every such weight with at least one zero.
enum class SparseInitializers { automatic, always, never };

struct ExportOptions {
  int opset = 13;                  // kMinOpset..kMaxOpset
  bool dynamic_batch = true;       // dim 0 of the input (and of outputs that follow it) is "batch"
  std::string producer_version;    // written as producer_version (producer_name is "compress")
  std::string recipe_hash;         // metadata_props["recipe_hash"] when set
  std::map<std::string, std::string> metadata;  // more metadata_props
  CodebookWeights codebook_weights = CodebookWeights::automatic;
  SparseInitializers sparse_initializers = SparseInitializers::never;
};

/// What an export wrote. `fp32_bytes` is the size the same graph would have with every weight
/// stored as float32: `bytes` plus, for each weight the export stored in a smaller form (codebook
/// indices, QDQ integers), 4 bytes per element minus the bytes of that form's tensors (the few
/// nodes that decode it, a few hundred bytes, are counted in both). `dense_bytes` is `bytes` with
/// every sparse initializer written as the dense initializer it stands for.
struct ExportSummary {
  int64_t bytes = 0;
  int64_t fp32_bytes = 0;
  int64_t dense_bytes = 0;
  int64_t codebook_weights = 0;   // weights written as codebook + indices
  int64_t quantized_weights = 0;  // weights written as QDQ integers
  int64_t sparse_initializers = 0;  // initializers (weights, QDQ integers, codebook indices) written sparse
  int64_t int4_weights = 0;       // of those, stored as INT4 / UINT4 (opset >= 21)
  int64_t wide_4bit_weights = 0;  // of those, on a 4-bit grid but in an 8-bit container (opset < 21)
  bool checked = false;           // checked in-process by the ONNX library (checker + shape inference)
  std::string check;              // how it was checked, or why not (checked_description)
};

constexpr int kMinOpset = 13;
constexpr int kMaxOpset = 21;

/// Newest opset of the ONNX library linked in (its schema registry's range for the default
/// domain: 17 for Debian's libonnx 1.12). Exports at a newer opset cannot be checked in-process.
int onnx_library_max_opset();
/// The IR version written with `opset` (the one ONNX released with it): 13 -> 7, 14..18 -> 8,
/// 19..20 -> 9, 21 -> 10.
int ir_version_for(int opset);

/// Builds the ONNX model: initializers for `param`/`constant` tensors (named as in the store),
/// graph input(s) "input" (then "input_1", ...), output(s) "output" (then "output_1", ...), node names
/// from scopes (made unique). Runs onnx::checker::check_model and strict shape inference when the
/// ONNX library knows the opset (onnx_library_max_opset()); the returned model then carries the
/// inferred value_info (but not of the nodes decoding codebook weights). A newer opset is not
/// checked in-process (ExportSummary::checked false, `check` says why): ONNX Runtime is its check.
/// Throws InputError for an unsupported opset, an op without a mapping ("op 'foo' at scope 'bar'
/// has no ONNX mapping") or attributes ONNX cannot express; mc::Error with the checker's message
/// when the result does not validate.
/// With `opts.sparse_initializers`, weights move into sparse initializers after the shape inference
/// (ONNX 1.12's types them as sparse tensors, which Conv & co. reject) and the checker runs again.
/// `summary`, when given, receives the sizes (ExportSummary).
onnx::ModelProto to_onnx(const ir::Model& model, const ExportOptions& opts = {}, ExportSummary* summary = nullptr);

/// to_onnx, then writes the file atomically (nothing is left at `path` on failure; InputError
/// naming the path when its directory is not writable). Returns the sizes of the written file.
ExportSummary export_onnx(const ir::Model& model, const std::string& path, const ExportOptions& opts = {});

/// The inference clean-up passes before an export (ir::passes::optimize), except constant folding
/// when the model holds fake_quant nodes (it would fold quantized constant weights back to float),
/// and batch-norm folding into a layer whose weight `codebook` writes as one codebook
/// (writes_codebook in export/codebook_weights.h).
ir::passes::OptimizeSummary optimize_for_export(ir::Model& model,
                                                CodebookWeights codebook = CodebookWeights::automatic,
                                                SparseInitializers sparse = SparseInitializers::never);

/// What a log line says about 4-bit weights and the in-process check: "N weights as INT4/UINT4" or
/// "N 4-bit weights in 8-bit containers; opset 21 stores them as INT4", then `summary.check`.
std::string export_notes(const ExportSummary& summary);

/// IR ops that have an ONNX mapping (sorted).
std::vector<std::string> exportable_ops();

/// Ops that exist only during quantization-aware training (bn_qat, bn_fold_weight, binary_quant,
/// ternary_quant): the finetune stage after `quantize: {mode: qat}` converts them, so they have no
/// ONNX mapping and exporting them is an InputError saying so.
bool is_qat_training_op(const std::string& op);

}  // namespace mc::exporter
