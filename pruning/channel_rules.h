/// Per-op channel rules for structured pruning, keyed by IR op name (the pruning folder's own
/// per-op table; the core registry knows nothing about channels).
///
/// `propagate` reads the ChannelMaps of a node's inputs and sets those of its outputs, uniting
/// coupled atoms and recording the tensor slices each atom owns. `update` (optional) rewrites the
/// node's attributes after channels were removed (split sizes, reshape shapes, depthwise groups);
/// shapes are re-inferred afterwards. The rules live in channel_rules*.cpp, one file per op family.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "pruning/dependency_graph.h"

namespace mc::prune {

/// Which atoms are being removed (indexed by atom id).
using RemovedAtoms = std::vector<char>;

struct ChannelRule {
  std::function<void(const ir::Node&, DependencyGraph&)> propagate;
  std::function<void(ir::Node&, const DependencyGraph&, const RemovedAtoms&)> update;  // may be empty
};

/// The rule of `op`, or nullptr. Registers the built-in rules on first use.
const ChannelRule* find_channel_rule(const std::string& op);
/// Registers the rule of `op`; an op that has one is an mc::Error naming both call sites.
void register_channel_rule(const std::string& op, ChannelRule rule, const char* file = __builtin_FILE(),
                           int line = __builtin_LINE());
/// Unregisters the rule of `op` (tests undo their registrations with it); no-op when absent.
void unregister_channel_rule(const std::string& op);

/// Number of positions of `m` whose atom is kept.
int64_t kept_positions(const ChannelMap& m, const RemovedAtoms& removed);

/// matmul(a, b) of two activations (attention): see channel_rules_attention.cpp.
void attention_matmul(const ir::Node& n, DependencyGraph& g);
/// Whether `v` reaches a matmul of two activations through transposes, permutes, scalar scaling or
/// dropout: a reshape producing it splits channels into attention heads.
bool feeds_attention_matmul(const DependencyGraph& g, const ir::Value* v);

// Families (each in its own channel_rules_<family>.cpp), called once by find_channel_rule.
void register_channel_rules_layers();       // conv2d, linear, matmul, batch_norm, layer_norm
void register_channel_rules_elementwise();  // unary activations, pooling, pad, add/sub/mul/div, fake_quant
void register_channel_rules_shape();        // cat, split, flatten, reshape, transpose, permute, (un)squeeze, expand, mean

}  // namespace mc::prune
