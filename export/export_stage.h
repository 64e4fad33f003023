// The `export` recipe stage: writes the current model as ONNX (fp32 now; QDQ once quantized).
#pragma once
#include "pipeline/stage.h"

namespace mc::exporter {

struct ExportStageOptions {
  std::string onnx = "model.onnx";
  int64_t opset = 13;
  bool optimize = true;
  bool dynamic_batch = true;
  void visit(recipe::Visitor& v);
  void validate(const recipe::ConfigNode&, recipe::Diagnostics&) const {}
};

/// Exports a copy of the model (optimised by ir::passes::optimize unless `optimize: false`); the
/// model the pipeline carries on is unchanged. Relative paths go into the run directory.
class ExportStage : public pipeline::StageWithOptions<ExportStageOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  void run(pipeline::RunContext& ctx) override;
};

/// The stages of the export folder.
void register_export_stages(pipeline::StageRegistry& r);

}  // namespace mc::exporter
