#include "pipeline/stages/simple_stages.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "distributed/world.h"
#include "ir/mcz/archive.h"
#include "ir/passes/fold_batch_norm.h"
#include "ir/passes/optimize.h"
#include "pipeline/data_context.h"
#include "pipeline/preprocessing.h"
#include "report/pack_report.h"
#include "train/evaluator.h"

namespace mc::pipeline {

using recipe::Spec;

void EvaluateOptions::visit(recipe::Visitor& v) {
  v.field("split", split, "data split to evaluate", Spec::one_of({"val", "train", "calib"}));
  v.field("max_batches", max_batches, "evaluate only this many batches (0 = all)", Spec::at_least(0));
}

void EvaluateStage::run(RunContext& ctx) {
  auto loader = ctx.data.loader(options_.split, false, /*shard=*/true);
  train::EvalResult r = train::evaluate(ctx.model, *loader, options_.max_batches);
  spdlog::info("evaluate on {}: top-1 {:.2f}%  top-5 {:.2f}%  loss {:.4f}  ({} samples)", options_.split, r.top1 * 100,
               r.top5 * 100, r.loss, r.count);
  ctx.details["split"] = options_.split;
  ctx.details["top1"] = r.top1;
  ctx.details["top5"] = r.top5;
  ctx.details["loss"] = r.loss;
  ctx.details["samples"] = r.count;
}

namespace {
int64_t count_op(const ir::Model& m, const std::string& op) {
  int64_t n = 0;
  for (auto* node : m.graph.nodes()) n += node->op() == op;
  return n;
}
}  // namespace

void FoldBatchNormStage::run(RunContext& ctx) {
  int64_t before = count_op(ctx.model, "batch_norm");
  ir::passes::fold_batch_norm(ctx.model);
  int64_t after = count_op(ctx.model, "batch_norm");
  spdlog::info("fold_batch_norm: folded {} of {} batch norms", before - after, before);
  ctx.details["folded"] = before - after;
  ctx.details["remaining"] = after;
}

void OptimizeStage::run(RunContext& ctx) {
  auto summary = ir::passes::optimize(ctx.model);
  spdlog::info("optimize: {}", summary.to_string());
  ctx.details["summary"] = summary.to_string();
}

void SaveOptions::visit(recipe::Visitor& v) {
  v.field("path", path, "checkpoint file (relative paths go into the run directory); a .mcz path writes the compressed "
          "archive (sparse and codebook weights, Huffman coded) and reports its size per layer");
}

void SaveStage::run(RunContext& ctx) {
  std::filesystem::path p(options_.path);
  if (p.is_relative()) p = std::filesystem::path(ctx.run_dir) / p;
  ctx.details["path"] = p.string();
  if (!dist::world().is_main()) return;  // a data-parallel run: rank 0 alone writes files
  if (p.extension() == ".mcz") {
    record_preprocessing(ctx.model, ctx.data);
    ir::mcz::PackResult r = ir::mcz::save_mcz(ctx.model, p.string());
    spdlog::info("saved the compressed archive {}: {} bytes, {:.2f}x smaller than fp32", p.string(), r.file_bytes, r.ratio());
    ctx.details["archive"] = report::pack_json(r, p.string());
    return;
  }
  save_with_preprocessing(ctx.model, ctx.data, p.string());
  spdlog::info("saved model to {}", p.string());
}

}  // namespace mc::pipeline
