// From the per-layer sensitivity sweep (pipeline/layer_sweep.h) to ranked moves: the sweep's
// candidates come from the knob table, each (layer, setting) gets its objective gain and its top-1
// drop, and the moves are ranked by gain per point of top-1 lost.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "pipeline/layer_sweep.h"
#include "search/auto_options.h"
#include "search/knobs.h"

namespace mc::search {

/// One candidate per (enabled knob, target, setting), each its knob's stage restricted to the target.
std::vector<pipeline::SweepCandidate> sweep_candidates(const AutoOptions& options, const ir::Model& model);

struct RankedMove {
  Move move;
  double gain = 0.0;  // what the move alone saves: ms of ONNX Runtime latency when the sweep timed it, else MACs or bytes as stored
  double drop = 0.0;  // top-1 lost (fraction) by the move alone, before any fine-tune
  double score = 0.0; // gain per top-1 lost
};

/// What the move of `row` saves against `baseline`: milliseconds of ONNX Runtime latency under
/// ort_latency when the sweep timed both (SweepRow::cost), else MACs (ort_latency, macs) or bytes
/// as stored (bytes); and the baseline's own value of that measure (the whole it is a part of).
double move_gain(const pipeline::SweepRow& row, const pipeline::SweepBaseline& baseline, const AutoOptions& options);
double baseline_measure(const pipeline::SweepBaseline& baseline, const AutoOptions& options);

/// The sweep's rows as moves, best score first, at most options.max_moves. Moves that failed, save
/// nothing, or belong to a kernel_speed knob under ort_latency (MACs cannot rank them) are left out.
/// The gain is the measured latency saved under ort_latency when the sweep timed the moves
/// (SweepRow::cost), else MACs for ort_latency and macs, bytes as stored for bytes.
std::vector<RankedMove> rank_moves(const std::vector<pipeline::SweepRow>& rows, const pipeline::SweepBaseline& baseline,
                                   const AutoOptions& options);

/// The first `n` ranked moves as a configuration: one setting per (knob, layer), the one saving the
/// most; moves on layers inside a removed block are dropped.
std::vector<Move> prefix_config(const std::vector<RankedMove>& ranked, size_t n);

/// A configuration with `extra` added (replacing a move of the same knob and layer) and normalised
/// like prefix_config.
std::vector<Move> with_move(const std::vector<Move>& config, const Move& extra);

/// For ort_latency: the moves of kernel_speed knobs (quantize) at their mildest setting on every
/// layer whose sweep drop is at most `max_drop`: tried as one whole-model trial.
std::vector<Move> kernel_moves(const std::vector<pipeline::SweepRow>& rows, const pipeline::SweepBaseline& baseline,
                               double max_drop);

/// `settings`: how the sweep measured (BatchNorm recalibration batches, recovery fine-tune; see
/// sweep_settings in search.cpp), recorded so that a sweep measured otherwise is not reused.
nlohmann::json sweep_to_json(const pipeline::SweepBaseline& baseline, const std::vector<pipeline::SweepRow>& rows,
                             const nlohmann::json& settings);
/// Reads what sweep_to_json wrote; false when it does not hold exactly `candidates` measured with
/// `settings` (then the sweep runs again).
bool sweep_from_json(const nlohmann::json& j, const std::vector<pipeline::SweepCandidate>& candidates,
                     const nlohmann::json& settings, pipeline::SweepBaseline& baseline,
                     std::vector<pipeline::SweepRow>& rows);

}  // namespace mc::search
