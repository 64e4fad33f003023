#include "quantization/quantize_options.h"

#include <optional>

#include "common/error.h"
#include "pipeline/layer_select.h"
#include "pipeline/stages/train_stage.h"

namespace mc::quant {

using recipe::Spec;

QuantizeOptions::QuantizeOptions() {
  QuantConfig defaults;
  weights = defaults.weights;
  activations = defaults.activations;
}

void QuantizeOptions::visit(recipe::Visitor& v) {
  v.field("mode", mode,
          "ptq: post-training quantization with calibration; qat: calibrate, then the next finetune stage trains "
          "the fake-quantized model (straight-through estimator); dynamic: int8 weights of linear/matmul layers, "
          "their activations quantized at run time (uint8, ONNX DynamicQuantizeLinear; no calibration)",
          Spec::one_of({"ptq", "qat", "dynamic"}));
  v.section("weights", [&](recipe::Visitor& s) { weights.visit(s); },
            "weight quantizer of conv2d/linear/matmul (qparams from the weights' min/max)");
  v.section("activations", [&](recipe::Visitor& s) {
    activations.visit(s);
    s.field("observer", observer.type, "how calibration chooses activation ranges",
            Spec::one_of({"minmax", "moving_average", "percentile", "mse", "entropy"}));
    s.field("averaging_constant", observer.averaging_constant, "moving_average: weight of each new batch", Spec::range(0, 1));
    s.field("percentile", observer.percentile, "percentile: the kept fraction of values, in percent", Spec::range(50, 100));
    s.field("bins", observer.bins, "histogram observers: initial number of bins", Spec::range(128, 65536));
  }, "activation quantizer (per tensor) and its observer");
  v.field("layers", layers, "per-layer overrides by scope glob: {\"layer3.*\": {weights: {bits: 4}, activations: {...}}}");
  v.field("exclude", exclude, "scope globs of layers kept in float (e.g. [fc])");
  v.field("adds", adds,
          "all: both inputs of every add of two activations quantized (TensorRT's placement); integer: only of the "
          "adds whose output reaches a quantized layer (through relu, pooling, ...), which ONNX Runtime runs as "
          "QLinearAdd; the others (a transformer's residual stream, read by LayerNorm) stay float, without the "
          "Q/DQ pairs ONNX Runtime would run around a float Add",
          Spec::one_of({"all", "integer"}));
  v.field("calib_file", calib_file, "reuse the calib.json of an earlier run instead of calibrating", Spec::path());
  v.field("calib_samples", calib_samples, "calibrate on at most this many samples of data.calib (0 = all)", Spec::at_least(0));
  v.field("fold_batch_norm", fold_batch_norm, "fold BatchNorm into conv/linear before quantizing");
  v.field("cross_layer_equalization", cross_layer_equalization,
          "equalize per-channel weight ranges of conv->relu->conv pairs (Nagel et al. 2019) before quantizing");
  v.field("bias_correction", bias_correction,
          "correct each quantized layer's bias by its mean output error on the calibration data");
  v.section("adaround", [&](recipe::Visitor& s) {
    s.field("iterations", ada.iterations, "Adam steps per layer", Spec::at_least(1));
    s.field("reg_weight", ada.reg_weight, "weight of the rounding regulariser sum(1 - |2h(V) - 1|^beta)", Spec::at_least(0));
    s.field("beta", ada.beta, "[start, end]: the regulariser's exponent, annealed linearly after the warm-up");
    s.field("warmup", ada.warmup, "fraction of the iterations without the regulariser", Spec::range(0, 1));
    s.field("lr", ada.lr, "Adam learning rate on V");
    s.field("batches", ada.batches, "calib batches on which each layer's input statistics are gathered (0 = all)",
            Spec::at_least(0));
    s.field("all_bits", ada.all_bits, "also AdaRound weights wider than 4 bits (e.g. 8-bit layers)");
    s.field("asymmetric", ada.asymmetric,
            "target: the float model's layer output on float inputs (the quantized layer sees the quantized model's "
            "inputs); false: the float weight's output on the quantized inputs");
  }, "AdaRound (Nagel et al. 2020): learn per weight whether to round down or up, layer by layer in graph order, "
     "minimising the layer's output error on calibration data; weights of <= 4 bits (`adaround: true` for the "
     "defaults)", &adaround);
  v.section("smooth_quant", [&](recipe::Visitor& s) { sq.visit(s); },
            "SmoothQuant (Xiao et al. 2022) before quantizing: per input channel j of a linear read from a LayerNorm, "
            "divide the activation by s_j and multiply the weight column by s_j, folding 1/s into the LayerNorm "
            "(the float model is unchanged); s_j from the calib split's per-channel max|X_j| (`smooth_quant: true` for "
            "the defaults)",
            &smooth_quant);
  v.section("mixed_precision", [&](recipe::Visitor& s) {
    s.field("candidates", mp_candidates, "weight bit-widths to choose from per layer (2..8)");
    s.field("average_bits", mp_average_bits, "budget: the parameter-weighted average weight bits", Spec::range(1, 8));
    s.field("batches", mp_batches, "calib batches on which each layer's sensitivity is measured (0 = all)", Spec::at_least(0));
  }, "automatic mixed precision: measure each layer's loss increase at each candidate bit-width (only that layer "
     "quantized) and choose per-layer weight bits meeting the average-bits budget with the least predicted loss; "
     "layers with a `layers:` weights override keep theirs", &mixed_precision);
  v.field("learn_scale", learn_scale,
          "mode qat: scales are trained (LSQ, Esser et al. 2020; gradient scaled by 1/sqrt(numel * quant_max)) "
          "instead of following the observed ranges");
  v.field("freeze_bn_epoch", freeze_bn_epoch,
          "mode qat: BatchNorm statistics update during the first N epochs of the finetune, then stay fixed "
          "(BatchNorm is folded into the conv weight the quantizer sees; -1: never frozen)",
          Spec::range(-1, 100000));
  v.field("freeze_observers_epoch", freeze_observers_epoch,
          "mode qat: quantization ranges follow the batches (activations: moving-average min/max with "
          "activations.averaging_constant; weights: their min/max) during the first N epochs, then stay fixed "
          "(-1: never frozen)",
          Spec::range(-1, 100000));
}

namespace {

const recipe::ConfigNode* at_path(const recipe::ConfigNode& n, std::initializer_list<const char*> keys) {
  const recipe::ConfigNode* cur = &n;
  for (const char* k : keys) {
    if (!cur->is_map()) return nullptr;
    cur = cur->find(k);
    if (!cur) return nullptr;
  }
  return cur;
}

void check_spec(const QuantSpec& s, const recipe::ConfigNode& node, const std::string& key, bool activation,
                recipe::Diagnostics& diag) {
  auto loc_of = [&](const char* field) {
    const recipe::ConfigNode* n = at_path(node, {field});
    return n ? n->loc() : node.loc();
  };
  if (activation && s.type != "int")
    diag.error(loc_of("type"), "'" + key + ".type' = " + s.type + ": only weights can be binary or ternary; use type: int "
                                   "for activations");
  if (activation && s.per_channel())
    diag.error(loc_of("qscheme"), "'" + key + ".qscheme' = " + s.qscheme +
                                      ": activation quantizers are per tensor (TensorRT runs activations with one scale); "
                                      "use per_tensor_symmetric or per_tensor_affine");
  if (s.quant_min != 0 || s.quant_max != 0) {
    bool ok = s.quant_min < s.quant_max && s.quant_min <= 0 && s.quant_max >= 0 &&
              s.quant_max - s.quant_min + 1 <= (int64_t(1) << s.bits);
    if (s.dtype == "quint8" && s.quant_min < 0) ok = false;
    if (!ok)
      diag.error(loc_of("quant_min"), "'" + key + ".quant_min'/'quant_max' = [" + std::to_string(s.quant_min) + ", " +
                                          std::to_string(s.quant_max) + "] is not a grid of " + std::to_string(s.bits) +
                                          "-bit " + s.dtype + " containing 0; give both within the dtype's range, or neither");
  }
  if (s.reduce_range && s.symmetric() && s.dtype == "quint8")
    diag.error(loc_of("reduce_range"), "'" + key + ".reduce_range' with a symmetric quint8 grid is not supported (as in torch.ao); "
                                           "use dtype qint8 or qscheme per_tensor_affine");
  if (s.bits == 2 && s.reduce_range && s.quant_min == 0 && s.quant_max == 0)
    diag.error(loc_of("reduce_range"), "'" + key + ".reduce_range' leaves a 2-bit grid with 2 values; use bits >= 3");
}

// Parses one override's `weights:`/`activations:` on top of the global specs.
bool parse_override(const pipeline::ScopeGlob& glob, const recipe::ConfigNode& entry, const QuantizeOptions& o,
                    LayerOverride& lo, recipe::Diagnostics& diag) {
  lo.glob = glob;
  lo.source = {o.context + ".layers." + glob.pattern, glob.loc};
  lo.weights = o.weights;
  lo.activations = o.activations;
  if (!entry.is_map()) {
    diag.error(entry.loc(), "'" + lo.source.key + "' must be a map with weights: and/or activations:");
    return true;
  }
  recipe::Reader r(&entry, diag, lo.source.key);
  r.section("weights", [&](recipe::Visitor& s) { lo.weights.visit(s); }, "", &lo.has_weights);
  r.section("activations", [&](recipe::Visitor& s) { lo.activations.visit(s); }, "", &lo.has_activations);
  r.finish();
  if (lo.has_weights) check_spec(lo.weights, *entry.find("weights"), lo.source.key + ".weights", false, diag);
  if (lo.has_activations)
    check_spec(lo.activations, *entry.find("activations"), lo.source.key + ".activations", true, diag);
  return true;
}

}  // namespace

QuantConfig QuantizeOptions::config(recipe::Diagnostics& diag) const {
  QuantConfig c;
  c.weights = weights;
  c.activations = activations;
  auto loc = [&](const char* k) {
    const recipe::ConfigNode* n = at_path(node, {k});
    return n ? n->loc() : node.loc();
  };
  c.weights_source = {context + ".weights", loc("weights")};
  c.activations_source = {context + ".activations", loc("activations")};
  c.context = context;
  c.integer_adds_only = adds == "integer";
  // Read again from the node for each glob's location (the Reader read `exclude` when it was a string list).
  if (const recipe::ConfigNode* e = at_path(node, {"exclude"}); e && !exclude.empty())
    c.exclude = pipeline::parse_scope_globs(*e, context + ".exclude", diag);
  else
    for (const std::string& p : exclude) c.exclude.push_back({p, loc("exclude")});
  const pipeline::GlobEntryParser<LayerOverride> parse = [&](const pipeline::ScopeGlob& g, const recipe::ConfigNode& v,
                                                             LayerOverride& lo, recipe::Diagnostics& d) {
    return parse_override(g, v, *this, lo, d);
  };
  for (auto& e : pipeline::parse_glob_map(layers, context + ".layers", diag, parse,
                                          "{weights: ..., activations: ...}, e.g. {fc: {weights: {bits: 4}}}"))
    c.layers.push_back(std::move(e.value));
  return c;
}

void QuantizeOptions::validate_adaround(const recipe::ConfigNode& n, const QuantConfig& c, recipe::Diagnostics& diag) const {
  const recipe::ConfigNode* a = at_path(n, {"adaround"});
  const recipe::Location loc = a ? a->loc() : n.loc();
  auto loc_in = [&](const char* key) {
    const recipe::ConfigNode* k = at_path(n, {"adaround", key});
    return k ? k->loc() : loc;
  };
  const std::string key = context + ".adaround";
  if (mode == "qat") {
    diag.error(loc, "'" + key + "' is a post-training rounding; with mode: qat the finetune learns the weights itself: "
                    "remove it or use mode: ptq");
    return;
  }
  if (bias_correction)
    diag.error(loc, "'" + key + "' and '" + context + ".bias_correction' together: AdaRound already minimises each "
                    "layer's output error (bias correction would measure the rounded weights against themselves); "
                    "remove one of them");
  const auto& b = ada.beta;
  if (b.size() != 2 || !(b[0] > 0) || !(b[1] > 0) || b[0] < b[1]) {
    std::string got = "[";
    for (size_t i = 0; i < b.size(); ++i) got += (i ? ", " : "") + recipe::format_number(b[i]);
    diag.error(loc_in("beta"), "'" + key + ".beta' = " + got + "] must be two positive numbers [start, end] with start >= end "
                               "(the exponent is annealed from start to end), e.g. [20, 2]");
  }
  if (!(ada.lr > 0))
    diag.error(loc_in("lr"), "'" + key + ".lr' = " + recipe::format_number(ada.lr) + " must be positive, e.g. 0.01");
  if (!ada.all_bits) {
    // The narrowest weight bit-width any layer can get: global, per-layer overrides, mixed precision.
    int64_t narrowest = weights.type == "int" ? weights.bits : 8;
    for (const auto& o : c.layers)
      if (o.has_weights && o.weights.type == "int") narrowest = std::min(narrowest, o.weights.bits);
    if (mixed_precision)
      for (int64_t bits : mp_candidates) narrowest = std::min(narrowest, bits);
    if (narrowest > kAdaRoundMaxBits)
      diag.error(loc, "'" + key + "' rounds weights of " + std::to_string(kAdaRoundMaxBits) + " bits or fewer, but every weight here "
                      "has " + std::to_string(narrowest) + " bits or more; set '" + context + ".weights.bits' (or a layer's "
                      "weights.bits) to 4 or lower, or 'adaround.all_bits: true' to AdaRound wider weights too");
  }
}

void QuantizeOptions::validate(const recipe::ConfigNode& n, recipe::Diagnostics& diag) const {
  auto loc_of = [&](const char* key) {
    const recipe::ConfigNode* k = at_path(n, {key});
    return k ? k->loc() : n.loc();
  };
  if (mode == "qat") {
    for (const char* key : {"cross_layer_equalization", "bias_correction"})
      if ((std::string(key) == "bias_correction" ? bias_correction : cross_layer_equalization))
        diag.error(loc_of(key), "'" + context + "." + key + "' is a post-training correction; with mode: qat the finetune "
                                "adapts the weights itself: remove it or use mode: ptq");
    if (learn_scale && freeze_observers_epoch >= 0)
      diag.error(loc_of("freeze_observers_epoch"), "'" + context + ".freeze_observers_epoch' has no effect with learn_scale: true "
                                                   "(learned scales are not observed); remove one of them");
  } else {
    if (mode == "dynamic")
      for (auto [key, on] : {std::pair<const char*, bool>{"calib_file", !calib_file.empty()},
                             {"bias_correction", bias_correction},
                             {"adaround", adaround},
                             {"mixed_precision", mixed_precision},
                             {"cross_layer_equalization", cross_layer_equalization}})
        if (on)
          diag.error(loc_of(key), "'" + context + "." + key + "' applies to static quantization; mode: dynamic computes "
                                  "activation ranges at run time and keeps the weights as they are: remove it or use "
                                  "mode: ptq");
    if (learn_scale || freeze_bn_epoch >= 0 || freeze_observers_epoch >= 0)
      diag.error(loc_of(learn_scale ? "learn_scale" : freeze_bn_epoch >= 0 ? "freeze_bn_epoch" : "freeze_observers_epoch"),
                 "'" + context + "." + (learn_scale ? "learn_scale" : freeze_bn_epoch >= 0 ? "freeze_bn_epoch" : "freeze_observers_epoch") +
                     "' applies to quantization-aware training only; set mode: qat (and a finetune stage after it)");
  }
  if (const recipe::ConfigNode* w = at_path(n, {"weights"})) check_spec(weights, *w, context + ".weights", false, diag);
  if (mixed_precision) {
    const recipe::ConfigNode* c = at_path(n, {"mixed_precision", "candidates"});
    const recipe::ConfigNode* b = at_path(n, {"mixed_precision", "average_bits"});
    const recipe::ConfigNode* mp = at_path(n, {"mixed_precision"});
    const recipe::Location cl = c ? c->loc() : mp ? mp->loc() : n.loc();
    int64_t narrowest = 8;
    for (int64_t bits : mp_candidates) {
      if (bits < 2 || bits > 8)
        diag.error(cl, "'" + context + ".mixed_precision.candidates' holds " + std::to_string(bits) +
                           ": weight bit-widths are 2..8");
      narrowest = std::min(narrowest, bits);
    }
    if (mp_candidates.empty())
      diag.error(cl, "'" + context + ".mixed_precision.candidates' is empty; give the bit-widths to choose from, e.g. [8, 4]");
    else if (mp_average_bits < static_cast<double>(narrowest))
      diag.error(b ? b->loc() : cl, "'" + context + ".mixed_precision.average_bits' = " + recipe::format_number(mp_average_bits) +
                                        " is below the narrowest candidate (" + std::to_string(narrowest) +
                                        " bits); raise it or add a narrower candidate");
  }
  if (const recipe::ConfigNode* a = at_path(n, {"activations"})) check_spec(activations, *a, context + ".activations", true, diag);
  QuantConfig c = config(diag);
  if (adaround) validate_adaround(n, c, diag);
  if (mode != "qat") {
    auto trained_only = [&](const QuantSpec& s, const std::string& key, const recipe::Location& loc) {
      if (s.binary_or_ternary())
        diag.error(loc, "'" + key + ".type' = " + s.type + ": binary and ternary weights are trained; use mode: qat "
                        "with a finetune stage after it (or type: int)");
    };
    trained_only(weights, context + ".weights", loc_of("weights"));
    for (auto& o : c.layers)
      if (o.has_weights && o.weights.type != weights.type) trained_only(o.weights, o.source.key + ".weights", o.source.loc);
  }
}

// mode: qat needs a later finetune (or train) stage to train in; the freeze epochs must fall
// inside it. Checked when the plan is built (compress validate reports it; a run stops before any
// stage ran).
void check_qat_plan(const QuantizeOptions& o, const recipe::Recipe& recipe, size_t self, recipe::Diagnostics& diag) {
  const auto& stages = recipe.stages;
  auto loc_of = [&](const char* key) {
    const recipe::ConfigNode* n = at_path(o.node, {key});
    return n ? n->loc() : (self < stages.size() ? stages[self].loc : recipe::Location{});
  };
  auto name = [&](const char* key) { return "'" + o.context + "." + key + "'"; };
  const std::optional<pipeline::NextTraining> next = pipeline::next_training_stage(recipe, self);
  if (!next) {
    diag.error(loc_of("mode"), name("mode") + " = qat trains the fake-quantized model in the next finetune stage, but no "
                               "finetune stage follows stage " + std::to_string(self) + " (" + o.context + "); add one "
                               "after it, e.g. `- finetune: {epochs: 3, optimizer: {lr: 0.001}}`, or use mode: ptq");
    return;
  }
  const int64_t epochs = next->epochs;
  const std::string& ft = next->path;
  for (auto [key, v] : {std::pair<const char*, int64_t>{"freeze_bn_epoch", o.freeze_bn_epoch},
                        {"freeze_observers_epoch", o.freeze_observers_epoch}})
    if (v >= epochs)
      diag.error(loc_of(key), name(key) + " = " + std::to_string(v) + " is out of range: " + ft + " runs " +
                                  std::to_string(epochs) + " epoch(s), so freezing after " + std::to_string(v) +
                                  " never happens; use 0.." + std::to_string(epochs - 1) + " or -1 (never)");
}

}  // namespace mc::quant
