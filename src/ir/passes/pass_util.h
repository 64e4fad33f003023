/// Helpers shared by the generic graph passes (src/ir/passes): op histograms, recognising
/// store-backed values, evaluating param/constant-only expressions, and rewriting a layer's weights
/// under the parameter-naming policy. Not passes themselves.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/model.h"

namespace mc::ir::passes {

/// op name -> number of nodes with that op.
std::map<std::string, int64_t> op_counts(const Graph& g);

/// `param` or `constant`: a node whose value comes from the model's tensor store.
bool is_source(const Node& n);

/// Ops whose result is random in training (dropout, stochastic_depth): never folded or merged.
bool is_random_op(const std::string& op);

/// Store name of the tensor a value refers to, when the value is the output of a param/constant
/// node; empty otherwise.
std::string source_tensor_name(const Value* v);

/// The tensor `v` holds whenever the model runs, when `v` depends on param/constant nodes only
/// (through at most `max_nodes` deterministic ops, evaluated with their kernels in eval mode).
/// Undefined tensor when `v` depends on a graph input, on a random op, or on too many nodes.
at::Tensor static_value(const Model& m, const Value* v, size_t max_nodes = 16);

/// Removes the producer of `v` when none of its outputs is used any more (and none is a graph
/// output), then does the same for that producer's inputs, recursively. Store tensors that no
/// remaining node refers to after a removal are erased. Returns the number of nodes removed.
int remove_dead_producers(Model& m, Value* v);
/// The same for a set of candidate nodes (duplicates allowed): each one is removed when dead, and
/// its producers become candidates in turn.
int remove_dead_nodes(Model& m, std::vector<Node*> candidates);
/// Producers of `n`'s inputs (graph inputs have none), to pass to remove_dead_nodes once `n` is gone.
std::vector<Node*> input_producers(const Node& n);

/// Erases store tensor `name` when no param/constant node refers to it. Returns true if erased.
bool erase_tensor_if_unused(Model& m, const std::string& name);

/// Adds `t` to the store under a fresh name derived from `hint` (Model::add_tensor) and a `param`
/// node referring to it right before `pos`, with scope `scope`; returns the node's output, typed
/// from `t`.
Value* insert_param(Model& m, Node* pos, const std::string& hint, const at::Tensor& t, const std::string& scope);

/// Sets the output types of `n` from its inputs' types with the op's shape function (what
/// Graph::infer_shapes does for every node, for one new node: O(1) in the graph size). Throws
/// mc::Error naming the node when an input's shape is unknown or the shape function fails.
void infer_node_types(Node& n);

/// Weight and bias of a conv2d/linear layer (bias may be undefined: no bias).
struct LayerWeights {
  at::Tensor weight;
  at::Tensor bias;
};

/// Sets the weight (input 1) and bias (input 2) of a conv2d/linear node; an undefined tensor leaves
/// that input as it is (a layer without bias gets one when `bias` is defined).
/// Parameter names stay stable: when the old weight/bias is a `param` node used by this layer
/// alone and no other node refers to its tensor, the tensor is overwritten in the store under its
/// own name. Otherwise the result gets a new `param` node right before the layer and the old
/// producer is removed if it became dead; the new tensor takes over the old one's name when that
/// was a `constant` used by this layer alone (a frozen weight becomes trainable again under its
/// name), else it is named `<scope>.weight` / `<scope>.bias` (made unique; without a scope, the
/// weight's name less ".weight").
void set_layer_params(Model& m, Node* layer, const at::Tensor& weight, const at::Tensor& bias);

}  // namespace mc::ir::passes
