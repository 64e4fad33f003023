#include "pruning/sensitivity_stage.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <ostream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "distributed/world.h"
#include "pipeline/data_context.h"
#include "pipeline/layer_select.h"
#include "pruning/sensitivity.h"
#include "runtime/executor.h"
#include "train/evaluator.h"

namespace mc::prune {

using recipe::Spec;

void SensitivityOptions::visit(recipe::Visitor& v) {
  v.field("ratios", ratios, "pruning ratios tried on each layer, in [0, 1)");
  v.field("split", split, "data split measured", Spec::one_of({"val", "train", "calib"}));
  v.field("limit", limit, "measure on the first this many samples (0 = all)", Spec::at_least(0));
  v.field("exclude", exclude, "scope globs of layers not analysed");
}

void SensitivityOptions::validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
  const recipe::ConfigNode* r = node.find("ratios");
  const recipe::Location loc = r ? r->loc() : node.loc();
  if (ratios.empty()) diag.error(loc, "'sensitivity.ratios' must list at least one ratio, e.g. [0.1, 0.5, 0.9]");
  for (size_t i = 0; i < ratios.size(); ++i) {
    if (!(ratios[i] >= 0.0 && ratios[i] < 1.0))
      diag.error(r && i < r->items().size() ? r->items()[i].loc() : loc,
                 "'sensitivity.ratios' entries are sparsities in [0, 1), got " + recipe::format_number(ratios[i]));
    else if (i > 0 && ratios[i] <= ratios[i - 1])
      diag.error(r && i < r->items().size() ? r->items()[i].loc() : loc,
                 "'sensitivity.ratios' must be increasing");
  }
  pipeline::parse_scope_globs(exclude, "sensitivity.exclude", diag);
}

namespace {
/// Top-1 over the first `limit` samples of the loader (all when 0); the executor is reused.
double top1_of_first(runtime::Executor& ex, data::DataLoader& loader, int64_t limit) {
  train::EvalAccumulator acc;
  loader.reset(0);
  data::Batch b;
  int64_t seen = 0;
  while ((limit <= 0 || seen < limit) && loader.next(b)) {
    at::Tensor images = b.images, labels = b.labels;
    if (limit > 0 && seen + images.size(0) > limit) {
      images = images.narrow(0, 0, limit - seen);
      labels = labels.narrow(0, 0, limit - seen);
    }
    acc.add(ex.run1(images), labels);
    seen += images.size(0);
  }
  if (seen == 0) throw InputError("sensitivity: data split '" + loader.dataset().name() + "' yields no samples");
  return acc.result().top1;
}
}  // namespace

void SensitivityStage::run(pipeline::RunContext& ctx) {
  recipe::Diagnostics diag;
  const auto exclude = pipeline::parse_scope_globs(options_.exclude, "sensitivity.exclude", diag);
  diag.throw_if_any();
  const auto unshared = pipeline::refuse_shared_layers(ctx.model, exclude, "sensitivity");
  const auto layers = pipeline::select_layers(pipeline::find_weight_layers(ctx.model), {}, unshared, "sensitivity",
                                              "prunable layer");
  auto loader = ctx.data.loader(options_.split, false);
  runtime::Executor ex(ctx.model);
  const SensitivityTable table = analyze_sensitivity(ctx.model, layers, options_.ratios,
                                                     [&] { return top1_of_first(ex, *loader, options_.limit); });

  namespace fs = std::filesystem;
  const fs::path dir(ctx.run_dir);
  ctx.details["sensitivity"] = table.to_json();
  if (!dist::world().is_main()) return;  // a data-parallel run: rank 0 alone writes files
  const nlohmann::json j = table.to_json();
  write_file_atomically((dir / "sensitivity.json").string(), [&](std::ostream& os) { os << j.dump(2) << "\n"; });
  write_file_atomically((dir / "sensitivity.csv").string(), [&](std::ostream& os) { os << table.to_csv(); });
  write_file_atomically((dir / "sensitivity.svg").string(), [&](std::ostream& os) { os << sensitivity_svg(table); });
  ctx.details["sensitivity"] = j;
  ctx.details["files"] = {"sensitivity.json", "sensitivity.csv", "sensitivity.svg"};
  spdlog::info("sensitivity: {} layers x {} ratios, baseline top-1 {:.4f}; wrote {}/sensitivity.{{json,csv,svg}}",
               layers.size(), options_.ratios.size(), table.baseline_top1, ctx.run_dir);
}

}  // namespace mc::prune
