// Quantization-aware training (the quantize stage's mode: qat), on the graph PTQ builds:
//
//   prepare_qat()  after plan_qdq/calibrate/insert_qdq (same placement and initial ranges as PTQ):
//     - each conv2d whose output only feeds a batch_norm gets torch.ao's ConvBn2d simulation:
//         w -> bn_fold_weight(w, gamma, running_var) -> <weight quantizer> -> conv2d (no bias)
//           -> bn_qat(., gamma, beta, running_mean, running_var, bias)
//       so the quantizer sees the BatchNorm-folded weight while BatchNorm keeps training
//       (statistics updating until QatOptions::freeze_bn_epoch);
//     - binary/ternary weight specs replace the weight's fake_quant by binary_quant/ternary_quant;
//     - int weight quantizers get qparams from the weight they now see (folded);
//     - learn_scale: every fake_quant's scale becomes a `param` (LSQ, Esser et al. 2020) with
//       grad_factor = 1 / sqrt(numel * quant_max) (numel: the weight's elements, or an activation's
//       elements per sample).
//   QatModifier   drives the next finetune stage: observer updates and freezing on a schedule,
//     BatchNorm freezing, and convert_qat() when training ends.
//   convert_qat()  folds every bn_qat into its conv (plain conv2d with bias, weight folded),
//     binary/ternary quantizers into fake_quant on the grid [-1, 1] (weight tensor = its quantized
//     values, scale = alpha per channel), learned scales into constants: the usual PTQ graph,
//     which the QDQ exporter writes as int8 containers holding {-1, 1} / {-1, 0, 1}.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quantization/calibrate.h"
#include "quantization/insert_qdq.h"
#include "quantization/observers.h"
#include "train/modifier.h"

namespace mc::quant {

struct QatOptions {
  bool learn_scale = false;
  bool fold_batch_norm = true;       // simulate folding of conv -> batch_norm pairs (else BN stays float)
  int64_t freeze_bn_epoch = -1;      // BN statistics frozen from this 0-based epoch on (-1: never)
  int64_t freeze_observers_epoch = -1;  // ranges fixed from this 0-based epoch on (-1: never)
  double averaging_constant = 0.01;  // activation ranges: moving-average min/max of the batches
  std::string context;               // "stages.N.quantize", for messages
};

/// One quantizer as the modifier updates it (scale/zero_point are store names).
struct QatQuantizer {
  std::string name;
  std::vector<std::string> values;  // the values it quantizes (fake_quant inputs)
  std::string scale, zero_point;
  QuantSpec spec;
  bool weight = false;
};

struct QatState {
  QatOptions options;
  std::vector<QatQuantizer> quantizers;  // int quantizers (weights and activations)
  /// Calibrated activation ranges (quantizer name -> [lo, hi]) that seed the moving averages.
  std::map<std::string, std::pair<double, double>> initial_ranges;
  int64_t folded_batch_norms = 0;
  int64_t binary_weights = 0, ternary_weights = 0;
};

/// Rewrites a model with PTQ fake_quant nodes (insert_qdq output for `plan`) into the QAT graph
/// described above. Verifies the graph.
QatState prepare_qat(ir::Model& m, const QuantPlan& plan, const std::vector<InsertedQuantizer>& inserted,
                     const Calibration* calib, const QatOptions& options);

/// Sets `frozen` on every bn_qat node; returns how many.
int64_t freeze_batch_norms(ir::Model& m);

/// Folds the QAT graph back into plain conv2d + fake_quant (see header). Verifies the graph.
void convert_qat(ir::Model& m);

/// QatState as JSON and back (nlohmann::json exceptions on a malformed document); doubles round-trip
/// exactly.
nlohmann::json qat_state_json(const QatState& state);
QatState qat_state_from_json(const nlohmann::json& j);

/// Observes the QAT model's quantizer inputs in training forwards and writes the qparams in place,
/// until freeze_observers_epoch: weights from their current min/max before their fake_quant runs;
/// activations by one moving-average min/max step per forward over all the values a quantizer
/// covers, written after its last fake_quant (a shared quantizer keeps one scale within a forward); freezes BatchNorm at freeze_bn_epoch; clamps
/// learned scales to >= eps after each step; convert_qat() at the end of training.
/// In a data-parallel run (`world` of several ranks) each forward's activation min/max is
/// all-reduced (min of the mins, max of the maxes) before the moving-average step, so every rank
/// takes the step one process would take on the global batch and the ranges stay identical.
class QatModifier : public train::Modifier {
 public:
  explicit QatModifier(QatState state, dist::World& world = dist::world());
  std::string name() const override { return "qat"; }
  void on_train_begin(train::TrainContext& ctx) override;
  void on_epoch_begin(train::TrainContext& ctx, int64_t epoch) override;
  void on_step_end(train::TrainContext& ctx) override;
  void on_train_end(train::TrainContext& ctx) override;

  bool observers_frozen() const { return observers_frozen_; }
  bool batch_norm_frozen() const { return bn_frozen_; }
  const QatState& state() const { return state_; }
  /// kind "qat": the QatState (the observers restart from the calibrated ranges, as before training).
  std::optional<train::ModifierState> pending_state() const override;
  static std::shared_ptr<QatModifier> from_state(const train::ModifierState& state);
  /// The activation observers' ranges after the step, "lo,hi,lo,hi,..." (%.9g: floats round-trip
  /// exactly) in quantizer order; "" with learned scales (no observers).
  std::string step_trace() const override;

 private:
  void attach(train::TrainContext& ctx);
  QatState state_;
  dist::World& world_;
  std::vector<std::unique_ptr<Observer>> observers_;  // per quantizer (activations)
  std::vector<std::pair<at::Tensor, at::Tensor>> batch_range_;  // per quantizer: [min, max] seen in this forward
  bool observers_frozen_ = false, bn_frozen_ = false;
};

}  // namespace mc::quant
