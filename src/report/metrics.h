// Metrics of a model: parameter and non-zero counts, MACs, bytes (fp32 and as stored), latency,
// and per-layer rows. Counts come from the graph; latency from timed Executor runs.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/model.h"

namespace mc::report {

/// One compute layer: a conv2d / linear / matmul / batch_norm / layer_norm node, or any node that
/// reads a `param` tensor directly or has a MAC count.
struct LayerRow {
  std::string scope;                 // module path kept from the source model (may be empty)
  std::string op;                    // op name
  std::vector<int64_t> output_shape; // shape of output 0 as in the graph (dim 0 = declared batch)
  int64_t params = 0;                // elements of the `param` tensors the node reads directly
  int64_t nonzero_params = 0;
  int64_t macs = 0;                  // ir::node_macs(node), at the graph's declared batch size
  int bits = 32;                     // storage bits of the node's largest param tensor (32 without params)

  bool operator==(const LayerRow& o) const {
    return scope == o.scope && op == o.op && output_shape == o.output_shape && params == o.params &&
           nonzero_params == o.nonzero_params && macs == o.macs && bits == o.bits;
  }
  bool operator!=(const LayerRow& o) const { return !(*this == o); }
};

struct Metrics {
  std::optional<double> top1, top5;  // fractions in [0,1]; set by the caller (evaluator), not by measure()
  std::optional<double> loss;
  int64_t params = 0;                // elements of trainable (`param`) tensors
  int64_t nonzero_params = 0;
  int64_t macs = 0;                  // sum of ir::node_macs over all nodes
  int64_t bytes_fp32 = 0;            // every param and constant tensor as float32 (4 bytes/element)
  int64_t bytes_stored = 0;          // every tensor at its storage bit width, ceil(elements*bits/8)
  std::map<int64_t, double> latency_ms;  // batch size -> median wall time of one inference, ms
  std::vector<LayerRow> layers;

  /// 1 - nonzero_params/params (0 when the model has no params).
  double sparsity() const;
  /// bytes_fp32 / bytes_stored; nullopt when bytes_stored is 0.
  std::optional<double> compression_ratio() const;

  bool operator==(const Metrics& o) const;
  bool operator!=(const Metrics& o) const { return !(*this == o); }
};

struct MeasureOptions {
  std::vector<int64_t> latency_batches{1, 64};
  int repeats = 10;      // timed runs per batch size; the median is reported
  int warmup = 2;        // untimed runs first
  bool latency = true;
  bool per_layer = true;
  /// Tensor name -> storage bits (1..64). Tensors not named are stored as 32-bit floats.
  /// Naming a tensor the model does not have is an error (catches typos and stale names).
  std::map<std::string, int> storage_bits;
};

/// Measures `model` (non-const: latency runs an Executor on it; shapes are re-inferred when some
/// value lacks one). Accuracy fields stay empty. Throws InputError for bad options.
Metrics measure(ir::Model& model, const MeasureOptions& options = {});

/// Median of wall times (ms) of `repeats` inference runs on random input, batch size `batch`.
double measure_latency_ms(ir::Model& model, int64_t batch, int repeats, int warmup);

/// Bytes of `elements` values at `bits` each, rounded up to whole bytes.
int64_t storage_bytes(int64_t elements, int bits);

/// "512 B", "1.50 KiB", "44.7 MiB", "1.23 GiB" (binary units, 3 significant digits).
std::string human_bytes(int64_t bytes);
/// "999", "1.23K", "11.7M", "1.82G", "1.00T" (decimal units, 3 significant digits).
std::string human_count(int64_t n);

}  // namespace mc::report
