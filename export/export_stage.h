// The `export` recipe stage: writes the current model as ONNX (fp32 now; QDQ once quantized).
#pragma once
#include "pipeline/stage.h"

namespace mc::exporter {

struct ExportStageOptions {
  std::string onnx = "model.onnx";
  int64_t opset = 13;
  bool optimize = true;
  bool dynamic_batch = true;
  std::string ort_eval = "auto";  // auto | true | false
  std::string codebook_weights = "auto";  // auto | true | false (export/codebook_weights.h)
  // auto | true | false (export/sparse_initializers.h); off by default: ONNX Runtime loads such files as
  // fast (measured, docs/architecture.md), but ONNX's shape inference rejects them, TensorRT untried
  std::string sparse_initializers = "false";
  std::vector<int64_t> ort_latency_batches;  // time the file in ONNX Runtime at these batch sizes (none: not timed)
  int64_t ort_latency_runs = 20;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const;
};

/// Exports a copy of the model (optimised by ir::passes::optimize unless `optimize: false`); the
/// model the pipeline carries on is unchanged. Relative paths go into the run directory.
/// `ort_eval` then measures the written file's top-1 in ONNX Runtime on data.val beside ours on
/// the same images (export/ort_eval.h; report details `ort_eval`): auto = when ONNX Runtime and
/// data.val are there (else the report says why not), true = required (validation error when
/// ONNX Runtime cannot be loaded), false = never. `ort_latency_batches` times the file in ONNX
/// Runtime (intra-op threads = the recipe's threads) at each batch size (details `ort_latency`);
/// it needs ONNX Runtime (checked at validation).
class ExportStage : public pipeline::StageWithOptions<ExportStageOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  bool keeps_layers() const override { return true; }
  void run(pipeline::RunContext& ctx) override;
  std::vector<std::string> needs_data() const override {
    return options_.ort_eval == "true" ? std::vector<std::string>{"val"} : std::vector<std::string>{};
  }
  /// ort_eval: true needs ONNX Runtime: loaded once here, so `compress validate` reports it missing.
  void check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const override;

 private:
  /// The report's `ort_eval` object for the file at `onnx`.
  nlohmann::json ort_eval_details(pipeline::RunContext& ctx, const std::string& onnx) const;
  /// The report's `ort_latency` object: per batch size the median and fastest of the timed runs.
  nlohmann::json ort_latency_details(pipeline::RunContext& ctx, const std::string& onnx) const;
};

struct CheckTensorrtOptions {
  std::string onnx;  // empty: the in-memory model, exported in memory
  bool strict = false;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode&, recipe::Diagnostics&) const {}
};

/// Checks a QDQ ONNX model against TensorRT's explicit-quantization rules (export/tensorrt_check.h):
/// the file `onnx` (relative paths in the run directory, e.g. the `export` stage's model.onnx) or,
/// without `onnx`, the current model exported in memory. The per-node table goes to the log and to
/// the report's details; with `strict: true` a fallback to float or a broken rule is an InputError.
class CheckTensorrtStage : public pipeline::StageWithOptions<CheckTensorrtOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  bool keeps_layers() const override { return true; }
  void run(pipeline::RunContext& ctx) override;
};

/// The stages of the export folder.
void register_export_stages(pipeline::StageRegistry& r);

}  // namespace mc::exporter
