// The `quantize` stage: post-training quantization (mode: ptq) with fake_quant nodes placed by
// plan_qdq()/insert_qdq(), activation ranges from calibration data (or a calib.json of an earlier
// run), optional SmoothQuant and cross-layer equalization, AdaRound and bias correction. mode: qat places and calibrates the
// same way, then prepares the graph for quantization-aware training by the next finetune stage
// (BatchNorm folding simulated, binary/ternary weights, learned scales; quantization/qat.h).
// mode: dynamic quantizes linear/matmul weights and computes activation qparams at run time
// (quantization/dynamic_quant.h).
#pragma once
#include <chrono>

#include "pipeline/stage.h"
#include "quantization/calibrate.h"
#include "quantization/insert_qdq.h"
#include "quantization/quantize_options.h"

namespace mc::quant {

class QuantizeStage : public pipeline::StageWithOptions<QuantizeOptions> {
 public:
  using StageWithOptions::StageWithOptions;
  void run(pipeline::RunContext& ctx) override;
  /// mode: qat needs a later finetune/train stage, and the freeze epochs must fall inside it.
  void check_plan(const recipe::Recipe& recipe, size_t index, recipe::Diagnostics& diag) const override;
  std::vector<std::string> needs_data() const override {
    if (options_.mode == "dynamic") return options_.smooth_quant ? std::vector<std::string>{"calib"} : std::vector<std::string>{};
    if (options_.calib_file.empty() || options_.bias_correction || options_.mixed_precision || options_.adaround ||
        options_.smooth_quant)
      return {"calib"};
    return {};
  }
  /// Calibration, bias correction and AdaRound read images only; mixed precision measures the loss.
  std::vector<LabelUse> needs_labels() const override {
    if (options_.mixed_precision) return {{"calib", "mixed_precision measures the loss increase per layer"}};
    return {};
  }

 private:
  /// mode: dynamic (quantization/dynamic_quant.h), its summary into the report details.
  void run_dynamic(pipeline::RunContext& ctx, const QuantConfig& cfg, std::chrono::steady_clock::time_point t0) const;
  /// SmoothQuant on the float model (calib split), its summary into the report details.
  void run_smooth_quant(pipeline::RunContext& ctx, const QuantConfig& cfg) const;
  /// Measures per-layer sensitivities on the calib split and sets the plan's weight bits.
  void choose_mixed_precision(pipeline::RunContext& ctx, const QuantConfig& cfg, QuantPlan& plan) const;
  /// Calibrates the plan's activation quantizers on the calib split. In a data-parallel run each
  /// rank observes its shard and the observers' min/max are merged (calibrate()) when the observer
  /// allows it (minmax); the others calibrate on all the samples on every rank, which is logged.
  Calibration calibrate_activations(pipeline::RunContext& ctx, const QuantPlan& plan) const;
};

pipeline::StageInfo quantize_stage_info();

}  // namespace mc::quant
