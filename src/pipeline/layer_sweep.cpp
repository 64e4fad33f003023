#include "pipeline/layer_sweep.h"

#include <chrono>
#include <filesystem>

#include "common/error.h"
#include "report/metrics.h"
#include "train/batch_norm_stats.h"
#include "train/evaluator.h"
#include "train/modifier.h"

namespace mc::pipeline {
namespace {

struct Measured {
  double top1 = 0.0;
  int64_t count = 0, macs = 0, bytes_stored = 0, params = 0, nonzero_params = 0;
  bool same_size(const Measured& o) const {
    return macs == o.macs && bytes_stored == o.bytes_stored && params == o.params && nonzero_params == o.nonzero_params;
  }
};

Measured measure_size(ir::Model& model, const std::map<std::string, int>& storage_bits) {
  Measured m;
  report::MeasureOptions mo;
  mo.latency = false;
  mo.per_layer = true;
  mo.storage_bits = storage_bits;
  const report::Metrics metrics = report::measure(model, mo);
  // MACs as deployed: the export (and quantize) fold BatchNorm into the conv before it, so a
  // batch_norm's MACs would show as a saving of whichever stage folds it.
  m.macs = metrics.macs;
  for (const report::LayerRow& row : metrics.layers)
    if (row.op == "batch_norm") m.macs -= row.macs;
  m.bytes_stored = metrics.bytes_stored;
  m.params = metrics.params;
  m.nonzero_params = metrics.nonzero_params;
  return m;
}

void measure_top1(Measured& m, ir::Model& model, const DataContext& data, const SweepOptions& o) {
  auto loader = data.loader(o.split, false);
  const train::EvalResult e = train::evaluate(model, *loader, o.max_batches);
  m.top1 = e.top1;
  m.count = e.count;
}

// The BatchNorm recalibration of the options (nothing when bn_batches is 0); its seconds.
double recalibrate(ir::Model& model, const DataContext& data, const SweepOptions& o) {
  if (o.bn_batches <= 0) return 0.0;
  const auto t0 = std::chrono::steady_clock::now();
  auto loader = data.loader(o.bn_split, false);
  train::recalibrate_batch_norm(model, *loader, o.bn_batches);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The recovery stage with `stage_options` on the context's model, then the BatchNorm statistics
// re-estimated and top-1 measured again (row.top1); its seconds added to the row's.
void recover(const StageRegistry& registry, const recipe::ConfigNode& stage_options, RunContext& ctx,
             const SweepOptions& o, SweepRow& row) {
  const auto t0 = std::chrono::steady_clock::now();
  registry.make(o.recovery_stage, stage_options, ctx.recipe.base_dir)->run(ctx);
  row.recovery_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  row.bn_seconds += recalibrate(ctx.model, ctx.data, o);
  Measured m;
  measure_top1(m, ctx.model, ctx.data, o);
  row.top1 = m.top1;
}

void check_splits(const DataContext& data, const SweepOptions& o) {
  if (!data.has(o.split))
    throw InputError("layer sweep: the recipe has no data." + o.split + " (the sweep measures top-1 on it)");
  if (o.bn_batches > 0 && !data.has(o.bn_split))
    throw InputError("layer sweep: the recipe has no data." + o.bn_split +
                     " (the sweep re-estimates BatchNorm statistics on it; give it, or set the BatchNorm batches to 0)");
}

}  // namespace

SweepBaseline sweep_baseline(const ir::Model& model, DataContext& data, const SweepOptions& options) {
  check_splits(data, options);
  ir::Model copy = model.clone();
  Measured m = measure_size(copy, {});
  const double cost = options.cost ? options.cost(copy, nullptr) : 0.0;
  recalibrate(copy, data, options);
  measure_top1(m, copy, data, options);
  if (m.count == 0) throw InputError("layer sweep: data." + options.split + " yields no samples");
  return {m.top1, m.macs, m.bytes_stored, m.params, m.count, cost};
}

std::vector<SweepRow> sweep_layers(const ir::Model& model, const recipe::Recipe& recipe, DataContext& data,
                                   const StageRegistry& registry, const std::vector<SweepCandidate>& candidates,
                                   const SweepOptions& options) {
  check_splits(data, options);
  std::vector<SweepRow> rows;
  if (!options.work_dir.empty()) std::filesystem::create_directories(options.work_dir);
  ir::Model base_copy = model.clone();
  const Measured base = measure_size(base_copy, {});
  if (!options.recovery_stage.empty()) {
    if (!data.has("train"))
      throw InputError("layer sweep: the recipe has no data.train (the sweep's recovery fine-tune trains on it)");
    registry.make(options.recovery_stage, options.recovery_options, recipe.base_dir);  // its options parse
    if (options.extend_recovery) registry.make(options.recovery_stage, options.extended_recovery_options, recipe.base_dir);
  }
  for (size_t i = 0; i < candidates.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    SweepRow row;
    row.candidate = candidates[i];
    std::unique_ptr<Stage> stage;
    try {
      stage = registry.make(row.candidate.stage, row.candidate.options, recipe.base_dir);
    } catch (const InputError& e) {
      row.error = e.what();
    }
    if (stage) {
      ir::Model copy = model.clone();
      ScratchRun run(recipe, copy, model, data, options.work_dir, options.quiet);
      RunContext& ctx = run.ctx;
      try {
        stage->run(ctx);
        copy.graph.verify();
        Measured m = measure_size(copy, run.storage_bits);
        if (m.same_size(base)) throw InputError("changes no count the sweep measures (MACs, bytes, parameters, non-zeros)");
        if (options.cost) row.cost = options.cost(copy, &row.candidate);
        row.macs = m.macs;
        row.bytes_stored = m.bytes_stored;
        row.params = m.params;
        row.bn_seconds = recalibrate(copy, data, options);
        measure_top1(m, copy, data, options);
        row.top1 = row.top1_before_recovery = m.top1;
        if (!options.recovery_stage.empty() && row.candidate.recover) {
          recover(registry, options.recovery_options, ctx, options, row);
          if (options.extend_recovery && options.extend_recovery(row)) {
            recover(registry, options.extended_recovery_options, ctx, options, row);
            row.extended = true;
          }
        }
        row.ok = true;
      } catch (const Error& e) {
        row.error = e.what();
      }
    }
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (options.on_row) options.on_row(i, candidates.size(), row);
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace mc::pipeline
