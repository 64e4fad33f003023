// compress export MODEL --onnx out.onnx [--opset N] [--input-shape N,C,H,W ...] [--input-dtype T ...] [--static-batch]
//                       [--metadata KEY=VALUE ...] [--no-optimize] [--codebook-weights auto|true|false]
//                       [--sparse-initializers auto|true|false]
// Loads a model (TorchScript, .mcm checkpoint, .mcz archive or zoo:<name>), runs the inference clean-up passes
// (ir::passes::optimize; --no-optimize skips them) and writes it as ONNX (fp32), checked by the
// ONNX checker and shape inference, atomically.
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "common/error.h"
#include "export/onnx_export.h"
#include "frontend/frontend.h"
#include "ir/passes/optimize.h"

#ifndef MC_VERSION
#define MC_VERSION "unknown"
#endif

namespace mc::cli {

namespace {

struct ExportArgs {
  std::string model, onnx;
  InputArgs inputs;
  int opset = exporter::kMinOpset;
  bool static_batch = false;
  bool no_optimize = false;
  std::string codebook_weights = "auto";
  std::string sparse_initializers = "false";
  std::vector<std::string> metadata;
};

int export_model(const ExportArgs& a) {
  exporter::ExportOptions opts;
  opts.opset = a.opset;
  opts.dynamic_batch = !a.static_batch;
  opts.producer_version = MC_VERSION;
  opts.codebook_weights = a.codebook_weights == "true"    ? exporter::CodebookWeights::always
                          : a.codebook_weights == "false" ? exporter::CodebookWeights::never
                                                          : exporter::CodebookWeights::automatic;
  opts.sparse_initializers = a.sparse_initializers == "true"   ? exporter::SparseInitializers::always
                             : a.sparse_initializers == "auto" ? exporter::SparseInitializers::automatic
                                                               : exporter::SparseInitializers::never;
  for (const std::string& kv : a.metadata) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError("--metadata '" + kv + "' must be KEY=VALUE");
    opts.metadata[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // Checked before loading the model, which can take a while.
  if (opts.opset < exporter::kMinOpset || opts.opset > exporter::kMaxOpset)
    throw InputError("unsupported opset " + std::to_string(opts.opset) + ": choose " +
                     std::to_string(exporter::kMinOpset) + ".." + std::to_string(exporter::kMaxOpset));
  ir::Model m = frontend::load_model(a.model, a.inputs.parse());
  // The inference clean-up pipeline (identities, constant folding, batch-norm folding, CSE, dead
  // code) unless --no-optimize, which exports the graph as loaded.
  if (!a.no_optimize) {
    ir::passes::OptimizeSummary sum = exporter::optimize_for_export(m, opts.codebook_weights, opts.sparse_initializers);
    spdlog::debug("{}", sum.to_string());
  }
  const exporter::ExportSummary size = exporter::export_onnx(m, a.onnx, opts);
  spdlog::info("wrote {} (opset {}, {} batch): {} bytes, {} with dense initializers, {} with float32 weights ({} "
               "codebook, {} quantized weights, {} sparse initializers); {}",
               a.onnx, opts.opset, opts.dynamic_batch ? "dynamic" : "fixed", size.bytes, size.dense_bytes,
               size.fp32_bytes, size.codebook_weights, size.quantized_weights, size.sparse_initializers,
               exporter::export_notes(size));
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, CommandTable& t, const GlobalOptions&) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* sub = app.add_subcommand("export", "Write a model as ONNX (fp32)");
  sub->add_option("model", a->model, "TorchScript .pt, .mcm checkpoint, .mcz archive or zoo:<name>")->required();
  sub->add_option("--onnx", a->onnx, "Output .onnx file")->required();
  sub->add_option("--opset", a->opset,
                  "ONNX opset, 13..21 (default 13); 21 stores 4-bit QDQ weights as INT4; above 17 the file is not "
                  "checked in-process (the ONNX library here knows opsets <= 17), ONNX Runtime is the check");
  add_input_options(sub, a->inputs, "Input shape, batch first, e.g. 1,3,224,224 (required for TorchScript)");
  sub->add_flag("--static-batch", a->static_batch, "Fix the batch size instead of a symbolic 'batch' dim");
  sub->add_option("--metadata", a->metadata, "Extra metadata_props entry KEY=VALUE (repeatable)");
  sub->add_flag("--no-optimize", a->no_optimize, "Export the graph as loaded (skip the inference clean-up passes)");
  sub->add_option("--codebook-weights", a->codebook_weights,
                  "Weights with <= 256 distinct values as codebook + 8/4-bit indices: auto (where smaller), true, false")
      ->check(CLI::IsMember({"auto", "true", "false"}));
  sub->add_option("--sparse-initializers", a->sparse_initializers,
                  "Weights with zeros (pruned) as ONNX sparse initializers: auto (where smaller), true, false (default)")
      ->check(CLI::IsMember({"auto", "true", "false"}));
  t.add(sub, [a] { return export_model(*a); });
}

}  // namespace mc::cli
