// Where the fake_quant nodes go: TensorRT's explicit-quantization placement, as a deterministic
// graph rewrite in two steps, so that calibration can run on the float graph between them and
// QAT can reuse both (the same plan, then trainable scales):
//
//   plan_qdq()   decides which values get a quantizer, with which spec, without changing the graph
//   insert_qdq() inserts the fake_quant nodes (and their scale/zero_point constants) of a plan
//
// Placement:
//   - weights (input 1) of conv2d, linear and matmul (when static): the `weights` spec, per
//     channel along ch_axis (conv2d/linear: output channel 0; matmul [in, out]: the last axis);
//   - activations at the inputs of conv2d/linear/matmul and at both inputs of an add whose two
//     inputs are activations (a residual add runs in int8): the `activations` spec, per tensor;
//   - max pooling, flatten and reshape share their input's quantizer: a request for their output
//     moves to their input (no new quantizer after them: they only move values); average pooling
//     computes new values, so a request for its output quantizes its input and its output with one
//     shared scale (ONNX Runtime fuses DQ -> AveragePool -> Q into an integer pool); a global pool
//     between two fake_quants of that quantizer gets its scale and zero point as inputs and computes
//     ORT's integer average (src/ir/ops/pool.cpp); a concat's inputs share one quantizer (one
//     scale for all of them);
//   - a value read by several quantized consumers gets one quantizer; users that did not ask
//     (float ops, graph outputs) keep reading the float value.
// Per-layer overrides and exclusions match module scopes by scope glob (pipeline/layer_select.h,
// ir/scope_glob.h: a glob also matches everything under it, "layer3" matches "layer3.0.conv1").
// An excluded layer keeps float weights and does not ask for its inputs to be quantized.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "ir/model.h"
#include "pipeline/layer_select.h"
#include "quantization/quantizer.h"
#include "recipe/config_tree.h"

namespace mc::quant {

/// Where a spec came from, for error messages ("file:line:col: 'stages.1.quantize.weights' ...").
struct SpecSource {
  std::string key;
  recipe::Location loc;
};

struct LayerOverride {
  pipeline::ScopeGlob glob;
  SpecSource source;  // the override entry ("stages.0.quantize.layers.fc")
  bool has_weights = false, has_activations = false;
  QuantSpec weights, activations;  // global spec with the override's keys applied
};

struct QuantConfig {
  QuantSpec weights;      // defaults: per_channel_symmetric qint8, 8 bits
  QuantSpec activations;  // defaults: per_tensor_symmetric qint8, 8 bits
  SpecSource weights_source, activations_source;
  std::vector<LayerOverride> layers;  // later entries win
  std::vector<pipeline::ScopeGlob> exclude;
  // false: both inputs of every add of two activations (TensorRT's rules); true: only of the adds
  // whose output reaches a quantized input (the ones ONNX Runtime runs as QLinearAdd).
  bool integer_adds_only = false;
  std::string context = "quantize";   // the stage's recipe path ("stages.0.quantize"), for messages
  QuantConfig();
};

struct WeightQuantizer {
  std::string name;    // quantizer name: the weight tensor's name ("layer1.0.conv1.weight")
  std::string layer;   // output value of the layer node
  size_t input = 1;    // which input of the layer is the weight
  std::string scope;
  std::string tensor;  // store name of the weight
  QuantSpec spec;      // ch_axis resolved for the layer
};

struct ActivationQuantizer {
  std::string name;                 // "<first consumer scope>.input_quant" (unique)
  std::string scope;                // first consumer's scope
  std::vector<std::string> values;  // float values observed and quantized (one shared scale)
  /// Per value: the edges to rewire, as (consumer node's first output, input index).
  std::map<std::string, std::vector<std::pair<std::string, size_t>>> edges;
  QuantSpec spec;
};

struct QuantPlan {
  std::vector<WeightQuantizer> weights;
  std::vector<ActivationQuantizer> activations;
};

/// Decides the placement. InputError (naming the recipe key and location) for a model that is
/// already quantized, a pattern that matches no scope, or a per-channel spec on a weight without
/// that axis.
QuantPlan plan_qdq(const ir::Model& m, const QuantConfig& cfg);

/// Names of the scale/zero_point tensors a quantizer was given by insert_qdq().
struct InsertedQuantizer {
  std::string name;
  std::string scale, zero_point;  // store names
  std::vector<std::string> outputs;  // fake_quant output values
};

/// Inserts the plan's fake_quant nodes. Weight qparams come from the weights (min-max);
/// activation qparams from `act_qparams` (by quantizer name; missing ones start at scale 1, zero
/// point 0, e.g. for QAT's initialisation by a later calibration). Verifies the graph.
std::vector<InsertedQuantizer> insert_qdq(ir::Model& m, const QuantPlan& plan,
                                          const std::map<std::string, QParams>& act_qparams);

}  // namespace mc::quant
