#include "pruning/prune_stage.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "pruning/agp.h"
#include "pruning/magnitude.h"
#include "pruning/nm_sparsity.h"
#include "pipeline/layer_select.h"
#include "train/modifier.h"

namespace mc::prune {

using recipe::Spec;

namespace {

/// `layers: {"layer3.*": 0.95}`: per-layer sparsities in [0, 1), later entries win.
std::vector<pipeline::GlobEntry<double>> parse_sparsity_overrides(const recipe::ConfigNode& node,
                                                                  recipe::Diagnostics& diag) {
  const pipeline::GlobEntryParser<double> sparsity = [](const pipeline::ScopeGlob& glob,
                                                        const recipe::ConfigNode& value, double& s,
                                                        recipe::Diagnostics& d) {
    const std::string key = "prune.layers." + glob.pattern;
    const std::string& text = value.value();
    const std::string why = value.is_scalar() ? recipe::parse_number(text, &s) : "a number";
    if (!why.empty()) {
      d.error(value.loc(), "'" + key + "' must be a sparsity (" + why + " in [0, 1)), got '" + text + "'");
      return false;
    }
    if (!(s >= 0.0 && s < 1.0)) {
      d.error(value.loc(), "'" + key + "' = " + text +
                               " is out of range: a sparsity is the fraction of weights set to zero, in [0, 1)");
      return false;
    }
    return true;
  };
  return pipeline::parse_glob_map(node, "prune.layers", diag, sparsity, "sparsities, e.g. {\"layer3.*\": 0.95}");
}

}  // namespace

void AgpScheduleOptions::visit(recipe::Visitor& v) {
  v.field("type", type, "sparsity schedule over the next finetune (Zhu & Gupta's cubic)", Spec::one_of({"agp"}));
  v.field("start_epoch", start_epoch, "epoch (fractional) of the first mask update", Spec::at_least(0));
  v.field("end_epoch", end_epoch, "epoch (fractional) at which the final sparsity is reached", Spec::at_least(0));
  v.field("frequency", frequency, "optimizer steps between mask updates", Spec::at_least(1));
  v.field("initial_sparsity", initial_sparsity, "sparsity at start_epoch", Spec::range(0, 1));
}

void PruneOptions::visit(recipe::Visitor& v) {
  // The effective-options echo leaves out what does not apply to the method, so that it re-validates.
  const bool echo = recipe::is_writer(v);
  const bool nm = method == "nm";
  v.field("method", method, "magnitude (unstructured) or nm (N:M semi-structured)", Spec::one_of({"magnitude", "nm"}));
  if (!echo || !nm) {
    v.field("sparsity", sparsity, "fraction of weights set to zero (magnitude)", Spec::range(0, 1));
    v.field("scope", scope, "global: one threshold over all layers; layer: each layer to the sparsity",
            Spec::one_of({"global", "layer"}));
    v.field("layers", layers, "per-layer sparsity overrides, {scope glob: sparsity} (magnitude)");
  }
  v.field("exclude", exclude, "scope globs of layers never pruned, e.g. [conv1, fc]");
  if (!echo || nm) {
    v.field("n", n, "weights kept per group (nm)", Spec::at_least(0));
    v.field("m", m, "group size along input channels (nm)", Spec::at_least(1));
  }
  if (!echo || has_schedule)
    v.section("schedule", [this](recipe::Visitor& s) { schedule.visit(s); },
              "gradual pruning over the next finetune (magnitude)", &has_schedule);
}

void PruneOptions::validate(const recipe::ConfigNode& node, recipe::Diagnostics& diag) const {
  auto loc = [&](const char* key) {
    const recipe::ConfigNode* n = node.find(key);
    return n ? n->loc() : node.loc();
  };
  if (sparsity >= 1.0) diag.error(loc("sparsity"), "'prune.sparsity' must be below 1 (1 would remove every weight)");
  pipeline::parse_scope_globs(exclude, "prune.exclude", diag);
  parse_sparsity_overrides(layers, diag);
  if (method == "nm") {
    for (const char* k : {"sparsity", "scope", "layers", "schedule"})
      if (node.find(k))
        diag.error(node.key_loc(k), std::string("'prune.") + k +
                                        "' does not apply to method nm (its sparsity is 1 - n/m); remove it");
    if (n >= m) diag.error(loc("n"), "'prune.n' must be below 'prune.m' (n of every m weights are kept)");
  } else {
    for (const char* k : {"n", "m"})
      if (node.find(k))
        diag.error(node.key_loc(k), std::string("'prune.") + k + "' applies to method nm only; remove it");
  }
  if (has_schedule && schedule.end_epoch <= schedule.start_epoch) {
    const recipe::ConfigNode* s = node.find("schedule");
    const recipe::ConfigNode* e = s ? s->find("end_epoch") : nullptr;
    diag.error(e ? e->loc() : loc("schedule"), "'prune.schedule.end_epoch' must be after start_epoch");
  }
  if (has_schedule && schedule.initial_sparsity > sparsity) {
    const recipe::ConfigNode* s = node.find("schedule");
    const recipe::ConfigNode* e = s ? s->find("initial_sparsity") : nullptr;
    diag.error(e ? e->loc() : loc("schedule"), "'prune.schedule.initial_sparsity' must not exceed 'prune.sparsity'");
  }
}

namespace {
nlohmann::json layer_rows(const ir::Model& model, const std::vector<pipeline::WeightLayer>& weights) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& w : weights) {
    const at::Tensor& t = model.tensor(w.param);
    rows.push_back({{"scope", w.scope}, {"param", w.param}, {"numel", t.numel()}, {"sparsity", sparsity_of(t)}});
  }
  return rows;
}

double total_sparsity(const ir::Model& model, const std::vector<pipeline::WeightLayer>& weights) {
  int64_t zeros = 0, total = 0;
  for (const auto& w : weights) {
    const at::Tensor& t = model.tensor(w.param);
    total += t.numel();
    zeros += t.numel() - t.count_nonzero().item<int64_t>();
  }
  return total ? static_cast<double>(zeros) / static_cast<double>(total) : 0.0;
}
}  // namespace

void PruneStage::run(pipeline::RunContext& ctx) {
  if (options_.method == "nm")
    run_nm(ctx);
  else
    run_magnitude(ctx);
}

void PruneStage::run_magnitude(pipeline::RunContext& ctx) {
  recipe::Diagnostics diag;  // already checked by validate(); parsed again for the locations
  const auto exclude = pipeline::parse_scope_globs(options_.exclude, "prune.exclude", diag);
  const auto overrides = parse_sparsity_overrides(options_.layers, diag);
  diag.throw_if_any();
  const auto unshared = pipeline::refuse_shared_layers(ctx.model, exclude, "prune");
  const auto weights = pipeline::select_layers(pipeline::find_weight_layers(ctx.model), {}, unshared, "prune",
                                               "prunable layer");
  pipeline::require_matches(overrides, pipeline::scopes_of(weights), "prune", "layers", "prunable layer",
                            " (Layers matched by `exclude` are not prunable.)");

  SparsityTargets targets;
  targets.global = options_.sparsity;
  for (const auto& w : weights) {
    const int o = pipeline::last_match(overrides, w.scope);
    targets.layer.push_back(o >= 0 ? overrides[static_cast<size_t>(o)].value
                                   : (options_.scope == "layer" ? options_.sparsity : -1.0));
  }
  ctx.details["method"] = "magnitude";
  ctx.details["scope"] = options_.scope;
  ctx.details["target_sparsity"] = options_.sparsity;
  if (options_.has_schedule) {
    AgpSchedule s{options_.schedule.start_epoch, options_.schedule.end_epoch, options_.schedule.frequency,
                  options_.schedule.initial_sparsity};
    ctx.modifiers.push_back(std::make_shared<AgpModifier>(weights, targets, s));
    ctx.details["schedule"] = {{"type", "agp"},
                               {"start_epoch", s.start_epoch},
                               {"end_epoch", s.end_epoch},
                               {"frequency", s.frequency},
                               {"initial_sparsity", s.initial_sparsity}};
    ctx.details["layers_scheduled"] = weights.size();
    spdlog::info("prune: AGP to sparsity {} over epochs {}..{} of the next finetune ({} layers)", options_.sparsity,
                 s.start_epoch, s.end_epoch, weights.size());
    return;
  }
  apply_masks(ctx.model, magnitude_masks(ctx.model, weights, targets));
  std::vector<std::string> names;
  for (const auto& w : weights) names.push_back(w.param);
  ctx.modifiers.push_back(train::MaskModifier::from_zeros(ctx.model, names));
  const double total = total_sparsity(ctx.model, weights);
  ctx.details["sparsity"] = total;
  ctx.details["layers"] = layer_rows(ctx.model, weights);
  spdlog::info("prune: magnitude ({}) sparsity {:.4f} over {} layers", options_.scope, total, weights.size());
}

void PruneStage::run_nm(pipeline::RunContext& ctx) {
  recipe::Diagnostics diag;
  const auto exclude = pipeline::parse_scope_globs(options_.exclude, "prune.exclude", diag);
  diag.throw_if_any();
  const auto unshared = pipeline::refuse_shared_layers(ctx.model, exclude, "prune");
  const auto weights = pipeline::select_layers(pipeline::find_weight_layers(ctx.model), {}, unshared, "prune",
                                               "prunable layer");
  std::vector<pipeline::WeightLayer> pruned;
  nlohmann::json skipped = nlohmann::json::array();
  std::map<std::string, at::Tensor> masks;
  for (const auto& w : weights) {
    const at::Tensor& t = ctx.model.tensor(w.param);
    if (!nm_applicable(t, options_.m, w.input_dim)) {
      skipped.push_back({{"scope", w.scope},
                         {"reason", std::to_string(t.size(w.input_dim)) + " input channels are not a multiple of m = " +
                                        std::to_string(options_.m)}});
      spdlog::info("prune: nm skips {} ({} input channels, not a multiple of {})", w.scope, t.size(w.input_dim),
                   options_.m);
      continue;
    }
    masks[w.param] = nm_mask(t, options_.n, options_.m, w.input_dim);
    pruned.push_back(w);
  }
  if (pruned.empty())
    throw InputError("prune: method nm: no selected layer has an input-channel count divisible by m = " +
                     std::to_string(options_.m) + "; choose another m");
  apply_masks(ctx.model, masks);
  ctx.modifiers.push_back(std::make_shared<train::MaskModifier>(masks));
  ctx.details["method"] = "nm";
  ctx.details["n"] = options_.n;
  ctx.details["m"] = options_.m;
  ctx.details["sparsity"] = total_sparsity(ctx.model, pruned);
  ctx.details["layers"] = layer_rows(ctx.model, pruned);
  ctx.details["skipped"] = skipped;
  spdlog::info("prune: {}:{} sparsity on {} layers ({} skipped)", options_.n, options_.m, pruned.size(), skipped.size());
}

}  // namespace mc::prune
