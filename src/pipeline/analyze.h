// Per-layer analysis of a compressed model C against its float model F: "which layer breaks
// accuracy?" (the idea of AIMET's QuantAnalyzer, for every technique that keeps the graph).
//
//   - A layer is a weight layer (pipeline/layer_select.h: find_weight_layers) of F, matched in C by
//     scope and op. It is revertible when C still has it with a weight of the same shape.
//   - Reverting a layer in C: its weight and its input activation read past their quantizer nodes
//     (fake_quant, dynamic_quant, binary/ternary_quant), and its param inputs (weight, bias) get
//     F's values back (pruning masks, codebooks, AdaRound's rounding, bias correction).
//   - Per layer: the output SQNR against F (10 log10(sum y^2 / sum (y - y_c)^2), over the same
//     batches) (a) with only that layer compressed (every other layer reverted) and (b) with the
//     whole model compressed (C itself: the error of the layers before it included), and the top-1
//     of C with that layer reverted. "Only that layer" means every other layer reverted and the
//     quantizers that belong to no layer (residual adds, a quantized pool) bypassed too.
//   - Ranked worst first by the top-1 recovered by reverting the layer (the question users ask),
//     ties and layers that cannot be reverted by SQNR (a), else (b) (a recipe that changes the graph).
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "ir/model.h"

namespace mc::pipeline {

/// 10 log10(signal / noise) in dB; +infinity when noise is 0 (identical outputs).
double sqnr_db(double signal, double noise);

/// One weight layer's figures; a missing figure has a `note` saying why.
struct LayerAnalysis {
  std::string scope, op;
  bool revertible = false;
  std::string note;
  std::optional<double> sqnr_only_db;        // only this layer compressed
  std::optional<double> sqnr_cumulative_db;  // this layer and every layer before it compressed (C)
  std::optional<double> top1_reverted;       // C with this layer back in float
  /// The SQNR layers are ranked by after the top-1: sqnr_only_db, else sqnr_cumulative_db.
  std::optional<double> rank_key() const { return sqnr_only_db ? sqnr_only_db : sqnr_cumulative_db; }
};

struct Analysis {
  double top1_float = 0.0, top1_compressed = 0.0;
  int64_t val_samples = 0, sqnr_samples = 0;
  /// Output SQNR of C with every revertible layer reverted against F: very large (or infinite) when
  /// reverting is exact; low when a stage changed weights across layers (e.g. cross-layer
  /// equalization) or the graph, so that per-layer reverts are not the float layers.
  std::optional<double> revert_check_db;
  bool graph_changed = false;         // some layer of F is missing or reshaped in C
  std::vector<LayerAnalysis> layers;  // ranked, worst first
  /// {"top1_float", "top1_compressed", ..., "layers": [{rank, scope, op, sqnr_only_db, ...}]};
  /// infinite SQNRs are written as null with the note "identical to float".
  nlohmann::json to_json() const;
};

/// The inputs of the comparison: batches for the SQNR (inputs only) and for top-1 (with labels).
struct AnalysisData {
  std::vector<data::Batch> sqnr;
  std::vector<data::Batch> val;
};

/// C with the layers of `scopes` reverted to F (see the file comment); layers that are not
/// revertible are left as they are. `unowned_quantizers`: also bypass the quantizers that belong to
/// no layer (residual adds' inputs; a quantized global pool computes the float mean), as the
/// "only this layer compressed" models and the all-reverted check do.
ir::Model revert_layers(const ir::Model& compressed, const ir::Model& float_model, const std::set<std::string>& scopes,
                        bool unowned_quantizers = false);

/// The analysis of `layers` (scopes of F's weight layers, in graph order).
Analysis analyze_layers(const ir::Model& float_model, const ir::Model& compressed, const std::vector<std::string>& layers,
                        const AnalysisData& data);

}  // namespace mc::pipeline
