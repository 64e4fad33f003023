#include "pipeline/stages/analyze_stage.h"

#include <spdlog/spdlog.h>

#include "ir/passes/fold_batch_norm.h"
#include "pipeline/analyze_run.h"
#include "pipeline/data_context.h"
#include "pipeline/layer_select.h"

namespace mc::pipeline {

using recipe::Spec;

void AnalyzeStageOptions::visit(recipe::Visitor& v) {
  v.field("layers", layers, "scope globs of the layers analysed, e.g. [\"layer3.*\", fc] (default: every weight layer)");
  v.field("val_samples", val_samples, "top-1 on the first N samples of data.val (0 = all)", Spec::at_least(0));
  v.field("sqnr_samples", sqnr_samples, "SQNR over the first N samples of data.calib (else data.val)", Spec::at_least(1));
}

void AnalyzeStageOptions::validate(const recipe::ConfigNode&, recipe::Diagnostics& diag) const {
  parse_scope_globs(layers, "analyze.layers", diag);
}

void AnalyzeStage::run(RunContext& ctx) {
  recipe::Diagnostics diag;  // checked by validate(); parsed again for the locations
  const std::vector<ScopeGlob> globs = parse_scope_globs(options_.layers, "analyze.layers", diag);
  diag.throw_if_any();
  ir::Model float_model = ctx.original.clone();
  ir::passes::fold_batch_norm(float_model);
  float_model.infer_shapes();
  const std::vector<std::string> layers =
      scopes_of(select_layers(find_weight_layers(float_model), globs, {}, "analyze", "weight layer"));
  const Analysis a = analyze_layers(float_model, ctx.model, layers,
                                    analysis_data(ctx.data, options_.sqnr_samples, options_.val_samples));
  if (!a.layers.empty())
    spdlog::info("analyze: top-1 float {:.2f}%, now {:.2f}%; worst layer {} ({} layers)", a.top1_float * 100,
                 a.top1_compressed * 100, a.layers.front().scope, a.layers.size());
  ctx.details["analysis"] = a.to_json();
}

}  // namespace mc::pipeline
