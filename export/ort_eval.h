// Accuracy and latency of an exported ONNX file in ONNX Runtime (the `export` stage's `ort_eval` and
// `ort_latency_batches`): node runs
// share/ort_eval.js with onnxruntime-node; batches go to it through a socket, outputs come back
// through a pipe, in lock step, while our executor runs the same batch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/loader.h"
#include "ir/model.h"
#include "train/evaluator.h"
#include "train/progress.h"

namespace mc::exporter {

/// Where ONNX Runtime for Node was found. Search order:
///   node:             $MC_NODE, else `node` in $PATH
///   script:           $MC_SHARE_DIR/ort_eval.js, else <source tree>/share/ort_eval.js
///   onnxruntime-node: $MC_ORT_NODE_MODULES (a node_modules folder), else
///                     <source tree>/tests/ort/node_modules (scripts/install-deps.sh puts it there),
///                     else Node's own resolution (node_modules beside/above the script, $NODE_PATH)
struct OrtRuntime {
  std::string node, script, modules;  // modules "" = Node's own resolution
  std::string version;                // onnxruntime-node's version, once loaded
  std::string error;                  // why ONNX Runtime is not available ("" = available)
  bool available() const { return error.empty(); }
};

/// How to install what find_ort_runtime() looks for (for messages).
std::string ort_install_hint();

/// Finds node, the script and onnxruntime-node and loads onnxruntime-node once (`ort_eval.js
/// --probe`). Never throws: `error` says what is missing. The result is cached per process.
const OrtRuntime& find_ort_runtime();

struct OrtEvalResult {
  train::EvalResult ort, ours;  // on the same images
  int64_t count = 0;
  double agreement = 0.0;     // fraction of images whose top-1 class is the same in both
  double max_abs_diff = 0.0;  // largest |ORT output - our output| over all images and classes
  double seconds = 0.0;
};

/// Runs `onnx` in ONNX Runtime and `model` in our executor on every batch of `loader` (epoch 0).
/// `threads` > 0 sets ORT's intra-op threads. RuntimeFailure with ORT's own message when it fails
/// to load or run the file; InputError when the loader yields no samples.
OrtEvalResult evaluate_in_ort(const OrtRuntime& rt, const std::string& onnx, ir::Model& model,
                              data::DataLoader& loader, int64_t threads, train::ProgressOptions progress);

struct OrtLatency {
  int64_t batch = 0, runs = 0;
  double median_ms = 0.0, min_ms = 0.0;  // wall time of one session.run at `batch`
};

/// Times `onnx` in ONNX Runtime (`ort_eval.js --latency`): `warmup` untimed runs, then `runs` timed
/// ones at batch `batch` on seeded float inputs, or on `inputs` when given (.npy files, one per
/// graph input in order: float32, int64 or int32, the batch their first dimension). `threads` > 0
/// sets ORT's intra-op threads. RuntimeFailure with ORT's own message when it cannot load or run
/// the file.
OrtLatency time_in_ort(const OrtRuntime& rt, const std::string& onnx, int64_t batch, int64_t runs, int64_t warmup,
                       int64_t threads, const std::vector<std::string>& inputs = {});

}  // namespace mc::exporter
