#include "quantization/quantize_stage.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "common/error.h"
#include "distributed/world.h"
#include "ir/passes/fold_batch_norm.h"
#include "pipeline/data_context.h"
#include "pipeline/layer_select.h"
#include "quantization/bias_correction.h"
#include "quantization/calibrate.h"
#include "quantization/dynamic_quant.h"
#include "quantization/equalize.h"
#include "quantization/mixed_precision.h"
#include "quantization/qat.h"
#include "pipeline/stages/train_stage.h"

namespace mc::quant {

void QuantizeStage::check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const {
  if (options_.mode == "qat") check_qat_plan(options_, recipe, index, diag);
}

void QuantizeStage::choose_mixed_precision(pipeline::RunContext& ctx, const QuantConfig& cfg, QuantPlan& plan) const {
  const QuantizeOptions& o = options_;
  auto loader = ctx.data.loader("calib", false);
  SensitivityResult sens = measure_sensitivity(ctx.model, plan, o.mp_candidates, *loader, o.mp_batches);
  // Layers whose weights a `layers:` override sets keep their bits and stay out of the budget.
  std::vector<LayerSensitivity> chosen;
  std::vector<std::string> fixed;
  for (size_t i = 0; i < plan.weights.size(); ++i) {
    bool overridden = false;
    for (const auto& lo : cfg.layers)
      if (lo.has_weights && lo.glob.matches(plan.weights[i].scope)) overridden = true;
    if (overridden)
      fixed.push_back(sens.layers[i].scope);
    else
      chosen.push_back(sens.layers[i]);
  }
  BitAllocation a = choose_bits(chosen, o.mp_candidates, o.mp_average_bits);
  nlohmann::json table = nlohmann::json::array();
  for (size_t i = 0; i < plan.weights.size(); ++i) {
    WeightQuantizer& w = plan.weights[i];
    auto it = a.bits.find(w.name);
    if (it != a.bits.end()) {
      w.spec.bits = it->second;
      w.spec.quant_min = w.spec.quant_max = 0;  // the grid follows the bits
    }
    nlohmann::json row = {{"layer", sens.layers[i].scope}, {"params", sens.layers[i].params}, {"bits", w.spec.bits},
                          {"chosen", it != a.bits.end()}};
    for (auto& [b, d] : sens.layers[i].loss_increase) row["loss_increase_" + std::to_string(b)] = d;
    table.push_back(row);
  }
  ctx.details["mixed_precision"] = {{"candidates", o.mp_candidates},
                                    {"budget_average_bits", o.mp_average_bits},
                                    {"average_bits", a.average_bits},
                                    {"predicted_loss_increase", a.predicted_loss_increase},
                                    {"float_loss", sens.float_loss},
                                    {"samples", sens.samples},
                                    {"overridden", fixed},
                                    {"layers", table}};
  spdlog::info("quantize: mixed precision on {} samples: {} layers at {:.2f} average weight bits (budget {}), "
               "predicted loss +{:.4f}",
               sens.samples, chosen.size(), a.average_bits, recipe::format_number(o.mp_average_bits),
               a.predicted_loss_increase);
}

void QuantizeStage::run_smooth_quant(pipeline::RunContext& ctx, const QuantConfig& cfg) const {
  auto loader = ctx.data.loader("calib", false);
  SmoothQuantSummary s = smooth_quant(ctx.model, *loader, options_.sq, cfg.exclude, options_.calib_samples);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : s.smoothed)
    rows.push_back({{"norm", r.norm}, {"layers", r.layers}, {"min_scale", r.min_scale}, {"max_scale", r.max_scale},
                    {"act_max_before", r.act_max_before}, {"act_max_after", r.act_max_after}});
  nlohmann::json skipped = nlohmann::json::object();
  for (const auto& [layer, why] : s.skipped) skipped[layer] = why;
  ctx.details["smooth_quant"] = {{"alpha", options_.sq.alpha}, {"samples", s.samples}, {"smoothed", rows}, {"skipped", skipped}};
  size_t layers = 0;
  for (const auto& r : s.smoothed) layers += r.layers.size();
  spdlog::info("quantize: SmoothQuant (alpha {}) on {} samples: {} linears after {} LayerNorms smoothed, {} kept",
               recipe::format_number(options_.sq.alpha), s.samples, layers, s.smoothed.size(), s.skipped.size());
  if (s.smoothed.empty())
    spdlog::warn("quantize: smooth_quant found no linear read from a LayerNorm to smooth (see the report's skipped list)");
}

Calibration QuantizeStage::calibrate_activations(pipeline::RunContext& ctx, const QuantPlan& plan) const {
  const QuantizeOptions& o = options_;
  const dist::World& world = dist::world();
  bool split = world.distributed();
  if (split) {
    for (const auto& a : plan.activations) {
      std::unique_ptr<Observer> probe = make_observer(o.observer, a.spec);
      if (probe->mergeable()) continue;
      spdlog::info("quantize: observer '{}' depends on how the samples fall into batches, so its statistics cannot be "
                   "merged across ranks: every one of the {} ranks calibrates on all of data.calib (the same result, "
                   "computed on each rank); observer minmax splits the calibration",
                   probe->name(), world.world_size());
      split = false;
      break;
    }
  }
  auto loader = ctx.data.loader("calib", false, /*shard=*/split);
  Calibration c = calibrate(ctx.model, plan, o.observer, *loader, o.calib_samples);
  if (c.ranks > 1)
    spdlog::info("quantize: calibration split over {} ranks: rank {} observed {} of the {} samples, min/max merged",
                 world.world_size(), world.rank(), c.local_samples, c.samples);
  return c;
}

void QuantizeStage::run_dynamic(pipeline::RunContext& ctx, const QuantConfig& cfg,
                                std::chrono::steady_clock::time_point t0) const {
  DynamicQuantSummary d = quantize_dynamic(ctx.model, cfg);
  nlohmann::json layers = nlohmann::json::object();
  for (auto& w : d.weights) {
    ctx.storage_bits[w.tensor] = w.spec.storage_bits();
    layers[w.scope.empty() ? w.name : w.scope] = {
        {"weight", w.tensor}, {"weight_bits", w.spec.storage_bits()}, {"qscheme", w.spec.qscheme}, {"type", w.spec.type}};
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ctx.details["mode"] = "dynamic";
  ctx.details["layers"] = layers;
  ctx.details["weight_quantizers"] = d.weights.size();
  ctx.details["dynamic_activation_quantizers"] = d.activation_quantizers;
  ctx.details["seconds"] = seconds;
  spdlog::info("quantize: dynamic INT8: {} weight quantizers, {} run-time activation quantizers, {:.3f} s",
               d.weights.size(), d.activation_quantizers, seconds);
  if (d.weights.empty())
    spdlog::warn("quantize: mode dynamic found no linear/matmul layer with a static weight (convolutions stay float)");
}

void QuantizeStage::run(pipeline::RunContext& ctx) {
  const QuantizeOptions& o = options_;
  recipe::Diagnostics diag;
  QuantConfig cfg = o.config(diag);
  diag.throw_if_any();
  (void)pipeline::refuse_shared_layers(ctx.model, cfg.exclude, "quantize");
  const bool qat = o.mode == "qat";
  auto t0 = std::chrono::steady_clock::now();
  if (o.fold_batch_norm && !qat) ir::passes::fold_batch_norm(ctx.model);
  if (o.cross_layer_equalization) {
    EqualizeSummary eq = equalize_model(ctx.model);
    ctx.details["cross_layer_equalization"] = {{"pairs", eq.pairs}};
    spdlog::info("quantize: cross-layer equalization of {} conv pairs", eq.pairs.size());
  }
  if (o.smooth_quant) run_smooth_quant(ctx, cfg);
  if (o.mode == "dynamic") {
    run_dynamic(ctx, cfg, t0);
    return;
  }
  QuantPlan plan = plan_qdq(ctx.model, cfg);
  if (o.mixed_precision) choose_mixed_precision(ctx, cfg, plan);
  Calibration calib = o.calib_file.empty() ? calibrate_activations(ctx, plan) : read_calibration(o.calib_file, plan);
  ir::Model float_model;
  if (o.adaround && o.ada.asymmetric) float_model = ctx.model.clone();  // the asymmetric targets
  auto inserted = insert_qdq(ctx.model, plan, calib.qparams);
  if (o.adaround) {
    auto loader = ctx.data.loader("calib", false);
    AdaRoundSummary ar = adaround(ctx.model, float_model, plan, *loader, o.ada);
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& l : ar.layers)
      rows.push_back({{"layer", l.layer}, {"bits", l.bits}, {"weights", l.weights}, {"mse_nearest", l.mse_nearest},
                      {"mse_adaround", l.mse_adaround}, {"changed_fraction", l.changed_fraction}, {"seconds", l.seconds}});
    nlohmann::json skipped = nlohmann::json::object();
    for (const auto& [layer, why] : ar.skipped) skipped[layer] = why;
    ctx.details["adaround"] = {{"samples", ar.samples},   {"iterations", o.ada.iterations}, {"asymmetric", o.ada.asymmetric},
                               {"layers", rows},          {"skipped", skipped}};
    if (ar.layers.empty())
      spdlog::warn("quantize: adaround found no conv2d/linear weight of <= {} bits to round (after mixed precision)",
                   kAdaRoundMaxBits);
  }
  if (qat) {
    QatOptions qo;
    qo.learn_scale = o.learn_scale;
    qo.fold_batch_norm = o.fold_batch_norm;
    qo.freeze_bn_epoch = o.freeze_bn_epoch;
    qo.freeze_observers_epoch = o.freeze_observers_epoch;
    qo.averaging_constant = o.observer.averaging_constant;
    qo.context = o.context;
    QatState st = prepare_qat(ctx.model, plan, inserted, &calib, qo);
    ctx.details["qat"] = {{"folded_batch_norms", st.folded_batch_norms},
                          {"binary_weights", st.binary_weights},
                          {"ternary_weights", st.ternary_weights},
                          {"learn_scale", o.learn_scale},
                          {"freeze_bn_epoch", o.freeze_bn_epoch},
                          {"freeze_observers_epoch", o.freeze_observers_epoch}};
    spdlog::info("quantize: QAT prepared ({} BatchNorms folded into the quantized weights, {} binary, {} ternary weights{})",
                 st.folded_batch_norms, st.binary_weights, st.ternary_weights, o.learn_scale ? ", learned scales" : "");
    ctx.modifiers.push_back(std::make_shared<QatModifier>(std::move(st)));
  }
  if (o.bias_correction) {
    auto loader = ctx.data.loader("calib", false);
    BiasCorrectionSummary bc = correct_bias(ctx.model, plan, *loader, o.calib_samples);
    ctx.details["bias_correction"] = {{"layers", bc.layers}};
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (dist::world().is_main())  // every rank holds the same calibration (merged or computed whole); rank 0 writes it
    write_calibration((std::filesystem::path(ctx.run_dir) / "calib.json").string(), calib);

  nlohmann::json layers = nlohmann::json::object();
  for (auto& w : plan.weights) {
    ctx.storage_bits[w.tensor] = w.spec.storage_bits();
    layers[w.scope.empty() ? w.name : w.scope] = {
        {"weight", w.tensor}, {"weight_bits", w.spec.storage_bits()}, {"qscheme", w.spec.qscheme}, {"type", w.spec.type}};
  }
  ctx.details["mode"] = o.mode;
  ctx.details["layers"] = layers;
  ctx.details["weight_quantizers"] = plan.weights.size();
  ctx.details["activation_quantizers"] = plan.activations.size();
  ctx.details["calibration"] = {{"samples", calib.samples},
                                {"split_over_ranks", calib.ranks},
                                {"observer", o.calib_file.empty() ? o.observer.type : "file"},
                                {"file", o.calib_file.empty() ? std::string("calib.json") : o.calib_file},
                                {"quantizers", calib.entries}};
  ctx.details["seconds"] = seconds;
  spdlog::info("quantize: {} weight and {} activation quantizers, calibrated on {} samples ({}), {:.3f} s",
               plan.weights.size(), plan.activations.size(), calib.samples,
               o.calib_file.empty() ? o.observer.type : o.calib_file, seconds);
}

namespace {

// `adaround: true` is `adaround: {}` (the defaults); `adaround: false` is no adaround section (smooth_quant alike).
recipe::ConfigNode with_section_shorthands(const recipe::ConfigNode& node) {
  recipe::ConfigNode n = node;
  for (const char* key : {"adaround", "smooth_quant"}) {
    recipe::ConfigNode* a = n.is_map() ? n.find(key) : nullptr;
    if (a && a->is_scalar()) {
      if (a->value() == "true")
        *a = recipe::ConfigNode::map(a->loc());
      else if (a->value() == "false")
        n.erase(key);
    }
  }
  return n;
}

}  // namespace

pipeline::StageInfo quantize_stage_info() {
  pipeline::StageInfo info;
  info.name = "quantize";
  info.doc = "quantize weights and activations with fake_quant (post-training, calibrated; or mode: qat, trained by the next finetune)";
  info.make = [](const recipe::ConfigNode& node, recipe::Diagnostics& diag, const std::string& context,
                 const std::string& base_dir) -> std::unique_ptr<pipeline::Stage> {
    QuantizeOptions o;
    o.context = context;
    o.node = with_section_shorthands(node);
    recipe::Reader r(&o.node, diag, context, base_dir);
    o.visit(r);
    r.finish();
    o.validate(o.node, diag);
    return std::make_unique<QuantizeStage>(std::move(o));
  };
  info.describe = [] {
    QuantizeOptions o;
    recipe::Describer d;
    o.visit(d);
    return d.docs();
  };
  return info;
}

}  // namespace mc::quant
