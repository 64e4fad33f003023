// Calibration: runs the float model over calibration batches with value hooks feeding one observer
// per activation quantizer of a plan, and the calibration file (calib.json) that records the result
// so a later run can reuse it without data.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>

#include "data/loader.h"
#include "distributed/world.h"
#include "ir/model.h"
#include "quantization/insert_qdq.h"
#include "quantization/observers.h"
#include "runtime/executor.h"

namespace mc::quant {

struct Calibration {
  std::map<std::string, QParams> qparams;  // activation quantizer name -> qparams
  nlohmann::json entries = nlohmann::json::object();  // name -> {values, scale, zero_point, min, max, observer, ...}
  int64_t samples = 0;
  /// Samples this rank observed: `samples`, or its shard's share when the calibration was split.
  int64_t local_samples = 0;
  int ranks = 1;  // ranks whose shards were merged (1: not split)
};

/// Observes every activation quantizer's values on the float `model` (no fake_quant yet) over
/// `loader` (all its batches, at most `max_samples` samples when > 0) and chooses qparams.
/// A loader sharded over the ranks of `world` (LoaderOptions rank/world_size, not shuffled) splits
/// the calibration: each rank observes its shard (of the first `max_samples` samples), then the
/// observers' min/max are all-reduced and the sample counts summed, so every rank chooses the
/// qparams one process would over all the data. Only mergeable observers (minmax) can be split
/// (RuntimeFailure otherwise: give the others an unsharded loader).
Calibration calibrate(ir::Model& model, const QuantPlan& plan, const ObserverOptions& observer, data::DataLoader& loader,
                      int64_t max_samples = 0, dist::World& world = dist::world());

/// Runs `ex` over `loader` (all its batches, at most `max_samples` samples when > 0), for the
/// hooks installed on it; returns the number of samples. InputError when there are none (unless
/// `allow_empty`: a rank's shard may be empty, the caller checks the total).
int64_t run_calibration_batches(runtime::Executor& ex, data::DataLoader& loader, int64_t max_samples = 0,
                                bool allow_empty = false);

/// Per-channel max |x| over the last dimension of each of `values` on the float `model` over
/// `loader` (SmoothQuant's activation statistics). Returns value name -> [channels] and the samples.
std::pair<std::map<std::string, at::Tensor>, int64_t> channel_absmax(ir::Model& model, const std::vector<std::string>& values,
                                                                     data::DataLoader& loader, int64_t max_samples = 0);

/// calib.json: {"format": "mc-calib-1", "samples": N, "quantizers": {name: entry}}.
void write_calibration(const std::string& path, const Calibration& c);
/// Reads a calibration file for `plan`: every activation quantizer of the plan must be present with
/// the same grid (InputError naming the file, the quantizer and how to fix it otherwise).
Calibration read_calibration(const std::string& path, const QuantPlan& plan);

}  // namespace mc::quant
