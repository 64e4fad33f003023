#include "export/export_stage.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "export/onnx_export.h"
#include "ir/passes/optimize.h"

namespace mc::exporter {

void ExportStageOptions::visit(recipe::Visitor& v) {
  v.field("onnx", onnx, "output ONNX file (relative paths go into the run directory)");
  v.field("opset", opset, "ONNX opset", recipe::Spec::range(kMinOpset, kMaxOpset));
  v.field("optimize", optimize, "run the graph clean-up passes (BN folding, ...) on the exported copy");
  v.field("dynamic_batch", dynamic_batch, "symbolic batch dimension");
}

void ExportStage::run(pipeline::RunContext& ctx) {
  std::filesystem::path p(options_.onnx);
  if (p.is_relative()) p = std::filesystem::path(ctx.run_dir) / p;
  ir::Model copy = ctx.model.clone();
  if (options_.optimize) ir::passes::optimize(copy);
  ExportOptions o;
  o.opset = static_cast<int>(options_.opset);
  o.dynamic_batch = options_.dynamic_batch;
  o.producer_version = MC_EXPORT_VERSION;
  o.recipe_hash = ctx.recipe.hash;
  o.metadata["recipe_name"] = ctx.recipe.name;
  export_onnx(copy, p.string(), o);
  auto bytes = static_cast<int64_t>(std::filesystem::file_size(p));
  spdlog::info("exported {} ({} bytes, opset {})", p.string(), bytes, options_.opset);
  ctx.details["onnx"] = p.string();
  ctx.details["bytes"] = bytes;
  ctx.details["opset"] = options_.opset;
  ctx.details["nodes"] = copy.graph.num_nodes();
}

void register_export_stages(pipeline::StageRegistry& r) {
  r.add(pipeline::stage_info<ExportStage>("export", "write the model as ONNX (checked by ONNX's checker)"));
}

}  // namespace mc::exporter
