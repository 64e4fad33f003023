#include "export/export_stage.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/error.h"
#include "distributed/world.h"
#include "export/onnx_export.h"
#include "export/ort_eval.h"
#include "pipeline/data_context.h"
#include "export/tensorrt_check.h"
#include "ir/passes/optimize.h"

namespace mc::exporter {

void ExportStageOptions::visit(recipe::Visitor& v) {
  v.field("onnx", onnx, "output ONNX file (relative paths go into the run directory)");
  v.field("opset", opset,
          "ONNX opset (21 stores 4-bit QDQ weights as INT4/UINT4; above 17 the file is checked by ONNX Runtime, not "
          "in-process)",
          recipe::Spec::range(kMinOpset, kMaxOpset));
  v.field("optimize", optimize, "run the graph clean-up passes (BN folding, ...) on the exported copy");
  v.field("dynamic_batch", dynamic_batch, "symbolic batch dimension");
  v.field("ort_eval", ort_eval,
          "top-1 of the written file in ONNX Runtime on data.val, beside ours (auto: when node, onnxruntime-node "
          "and data.val are there; true: required; false: never)",
          recipe::Spec::one_of({"auto", "true", "false"}));
  v.field("codebook_weights", codebook_weights,
          "conv/linear/matmul weights with <= 256 distinct values (clustered) as a float32 codebook + 8-bit "
          "indices (4-bit for <= 16 values) decoded by Gather (auto: where the file gets smaller; true: always; "
          "false: float32)",
          recipe::Spec::one_of({"auto", "true", "false"}));
  v.field("sparse_initializers", sparse_initializers,
          "conv/linear/matmul weights with zeros (pruned; also their QDQ integers or codebook indices) as ONNX sparse "
          "initializers, non-zero values + int64 positions, densified by ONNX Runtime at load (auto: where the file "
          "gets smaller; true: every weight with a zero; false: dense)",
          recipe::Spec::one_of({"auto", "true", "false"}));
  v.field("ort_latency_batches", ort_latency_batches,
          "time the written file in ONNX Runtime at these batch sizes (median and fastest of ort_latency_runs runs, "
          "intra-op threads = the recipe's threads; report details ort_latency); empty: not timed");
  v.field("ort_latency_runs", ort_latency_runs, "timed ONNX Runtime runs per batch size (after 3 untimed ones)",
          recipe::Spec::range(1, 100000));
}

void ExportStageOptions::validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
  for (int64_t b : ort_latency_batches)
    if (b < 1) {
      const recipe::ConfigNode* key = node.is_map() ? node.find("ort_latency_batches") : nullptr;
      diag.error(key ? key->loc() : node.loc(), "export: ort_latency_batches must be batch sizes >= 1 (got " +
                                                     std::to_string(b) + ")");
      return;
    }
}

static SparseInitializers parse_sparse_initializers(const std::string& s) {
  if (s == "true") return SparseInitializers::always;
  if (s == "auto") return SparseInitializers::automatic;
  return SparseInitializers::never;
}

static CodebookWeights parse_codebook_weights(const std::string& s) {
  if (s == "true") return CodebookWeights::always;
  if (s == "false") return CodebookWeights::never;
  return CodebookWeights::automatic;
}

void ExportStage::check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const {
  const bool eval = options_.ort_eval == "true", timed = !options_.ort_latency_batches.empty();
  if (!eval && !timed) return;
  const OrtRuntime& rt = find_ort_runtime();
  if (rt.available()) return;
  const recipe::ConfigNode& opts = recipe.stages[index].options;
  const char* option = eval ? "ort_eval" : "ort_latency_batches";
  const recipe::ConfigNode* key = opts.is_map() ? opts.find(option) : nullptr;
  diag.error(key ? key->loc() : recipe.stages[index].loc,
             "'stages." + std::to_string(index) + ".export." + option + "'" + (eval ? " = true" : "") +
                 " needs ONNX Runtime, which is not available: " +
                 rt.error + (eval ? " (or set ort_eval: auto to export without it)" : " (or remove ort_latency_batches)"));
}

nlohmann::json ExportStage::ort_latency_details(pipeline::RunContext& ctx, const std::string& onnx) const {
  const OrtRuntime& rt = find_ort_runtime();
  if (!rt.available()) throw RuntimeFailure("export: ONNX Runtime is not available for ort_latency_batches: " + rt.error);
  nlohmann::json out = nlohmann::json::array();
  for (int64_t batch : options_.ort_latency_batches) {
    const OrtLatency t = time_in_ort(rt, onnx, batch, options_.ort_latency_runs, 3, ctx.recipe.threads);
    spdlog::info("export: ONNX Runtime {} latency at batch {}: median {:.3f} ms, fastest {:.3f} ms of {} runs", rt.version,
                 t.batch, t.median_ms, t.min_ms, t.runs);
    out.push_back({{"batch", t.batch}, {"runs", t.runs}, {"median_ms", t.median_ms}, {"min_ms", t.min_ms},
                   {"threads", ctx.recipe.threads}, {"onnxruntime", rt.version}});
  }
  return out;
}

nlohmann::json ExportStage::ort_eval_details(pipeline::RunContext& ctx, const std::string& onnx) const {
  if (!ctx.data.has("val")) return {{"status", "not_measured"}, {"reason", "no data.val in the recipe"}};
  const OrtRuntime& rt = find_ort_runtime();
  if (!rt.available()) {
    if (options_.ort_eval == "true") throw RuntimeFailure("export: ONNX Runtime is not available: " + rt.error);
    spdlog::warn("export: ONNX Runtime not available, the exported file's accuracy is not measured: {}", rt.error);
    return {{"status", "unavailable"}, {"reason", "ONNX Runtime not available: " + rt.error}};
  }
  train::ProgressOptions po;
  po.quiet = ctx.quiet;
  po.label = "export: ONNX Runtime eval";
  auto loader = ctx.data.loader("val", false);
  OrtEvalResult r;
  try {
    r = exporter::evaluate_in_ort(rt, onnx, ctx.model, *loader, ctx.recipe.threads, po);
  } catch (const RuntimeFailure& e) {
    if (options_.ort_eval == "true") throw;
    spdlog::warn("export: {}", e.what());
    return {{"status", "failed"}, {"reason", e.what()}, {"onnxruntime", rt.version}};
  }
  spdlog::info("export: ONNX Runtime {} top-1 {:.2f}% (ours {:.2f}%) on {} images of data.val, top-1 agreement {:.2f}%, "
               "{:.1f} s", rt.version, r.ort.top1 * 100, r.ours.top1 * 100, r.count, r.agreement * 100, r.seconds);
  return {{"status", "done"},           {"onnxruntime", rt.version},  {"count", r.count},
          {"top1_ort", r.ort.top1},     {"top1_ours", r.ours.top1},   {"top5_ort", r.ort.top5},
          {"top5_ours", r.ours.top5},   {"top1_agreement", r.agreement}, {"max_abs_diff", r.max_abs_diff},
          {"seconds", r.seconds}};
}

void ExportStage::run(pipeline::RunContext& ctx) {
  std::filesystem::path p(options_.onnx);
  if (p.is_relative()) p = std::filesystem::path(ctx.run_dir) / p;
  ctx.details["onnx"] = p.string();
  if (!dist::world().is_main()) return;  // a data-parallel run: rank 0 alone exports (the model is unchanged)
  ir::Model copy = ctx.model.clone();
  const CodebookWeights codebook = parse_codebook_weights(options_.codebook_weights);
  const SparseInitializers sparse = parse_sparse_initializers(options_.sparse_initializers);
  if (options_.optimize) optimize_for_export(copy, codebook, sparse);
  ExportOptions o;
  o.opset = static_cast<int>(options_.opset);
  o.dynamic_batch = options_.dynamic_batch;
  o.producer_version = MC_EXPORT_VERSION;
  o.recipe_hash = ctx.recipe.hash;
  o.metadata["recipe_name"] = ctx.recipe.name;
  o.codebook_weights = codebook;
  o.sparse_initializers = sparse;
  const ExportSummary size = export_onnx(copy, p.string(), o);
  auto bytes = static_cast<int64_t>(std::filesystem::file_size(p));
  spdlog::info("exported {} ({} bytes, {} with dense initializers, {} with float32 weights; {} codebook, {} quantized "
               "and {} sparse weight initializers; opset {}; {})",
               p.string(), bytes, size.dense_bytes + (bytes - size.bytes), size.fp32_bytes + (bytes - size.bytes),
               size.codebook_weights, size.quantized_weights, size.sparse_initializers, options_.opset,
               export_notes(size));
  ctx.details["onnx"] = p.string();
  ctx.details["bytes"] = bytes;
  ctx.details["bytes_dense"] = size.dense_bytes + (bytes - size.bytes);
  ctx.details["bytes_fp32"] = size.fp32_bytes + (bytes - size.bytes);
  ctx.details["codebook_weights"] = size.codebook_weights;
  ctx.details["quantized_weights"] = size.quantized_weights;
  ctx.details["sparse_initializers"] = size.sparse_initializers;
  ctx.details["opset"] = options_.opset;
  ctx.details["int4_weights"] = size.int4_weights;
  ctx.details["wide_4bit_weights"] = size.wide_4bit_weights;
  ctx.details["checked"] = size.check;
  ctx.details["nodes"] = copy.graph.num_nodes();
  if (options_.ort_eval != "false") ctx.details["ort_eval"] = ort_eval_details(ctx, p.string());
  if (!options_.ort_latency_batches.empty()) ctx.details["ort_latency"] = ort_latency_details(ctx, p.string());
}

void CheckTensorrtOptions::visit(recipe::Visitor& v) {
  v.field("onnx", onnx, "QDQ ONNX file to check (relative paths in the run directory); empty: the current model, exported in memory");
  v.field("strict", strict, "fail (exit 2) when a node would fall back to float or a Q/DQ breaks a TensorRT rule");
}

void CheckTensorrtStage::run(pipeline::RunContext& ctx) {
  if (!dist::world().is_main()) return;  // a data-parallel run: rank 0 alone reports (its export wrote the file)
  TrtCheckResult r;
  std::string what;
  if (!options_.onnx.empty()) {
    std::filesystem::path p(options_.onnx);
    if (p.is_relative()) p = std::filesystem::path(ctx.run_dir) / p;
    if (!std::filesystem::exists(p))
      throw InputError("check_tensorrt: '" + p.string() + "' does not exist; put an `export` stage writing it before check_tensorrt, or leave `onnx` empty to check the current model");
    r = check_tensorrt_file(p.string());
    what = p.string();
  } else {
    ir::Model copy = ctx.model.clone();
    optimize_for_export(copy);
    r = check_tensorrt(to_onnx(copy));
    what = "the current model";
  }
  if (!ctx.quiet) spdlog::info("check_tensorrt ({}):\n{}", what, r.table());
  ctx.details["tensorrt"] = r.to_json();
  if (options_.strict && !r.ok()) {
    std::string first;
    for (const auto& n : r.nodes)
      if (!n.int8 && first.empty()) first = n.node + ": " + n.reason;
    if (first.empty() && !r.violations.empty()) first = r.violations.front().message;
    throw InputError("check_tensorrt (strict): " + std::to_string(r.float_nodes()) + " node(s) would run in float and " +
                     std::to_string(r.violations.size()) + " Q/DQ node(s) break TensorRT's rules in " + what +
                     ", e.g. " + first + "; quantize those inputs (symmetric int8) or set strict: false");
  }
}

void register_export_stages(pipeline::StageRegistry& r) {
  r.add(pipeline::stage_info<ExportStage>("export", "write the model as ONNX (checked by ONNX's checker)"));
  r.add(pipeline::stage_info<CheckTensorrtStage>(
      "check_tensorrt", "check a QDQ ONNX model against TensorRT's INT8 explicit-quantization rules (per-node INT8/float table)"));
}

}  // namespace mc::exporter
