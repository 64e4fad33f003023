/// Channel dependency groups (DepGraph, Fang et al. 2023) for structured pruning.
///
/// Every channel of every activation gets an *atom* id. Ops propagate atoms forward by their
/// channel rule (pruning/channel_rules.cpp): a conv's outputs are fresh atoms, BatchNorm/ReLU pass
/// them through, `add` unites the atoms of its inputs position by position, `cat` concatenates
/// them, a flatten repeats each atom over its block of features, and so on. Atoms that must be
/// removed together end up in one union-find set: a *unit*. Each atom records the tensor slices
/// it owns (members): a producer's weight dim 0 and bias, a consumer's weight dim 1, BatchNorm
/// parameters and statistics. Removing a unit removes every member slice of all its atoms.
///
/// Units whose atoms reach a graph input or output, or pass through an op that mixes channels
/// (softmax over channels, layer_norm unless ChannelOptions::through_layer_norm, grouped conv),
/// are *fixed* and never pruned. Prunable units are bucketed into *groups* by the set of
/// conv/linear layers producing them (all the convs feeding one residual stream form one group).
///
///   %c1 = conv2d(%x, %w1)   -> atoms a0..a15 (w1 dim 0)          group {conv1, conv2}:
///   %c2 = conv2d(%r, %w2)   -> atoms b0..b15 (w2 dim 0)            unit i = {a_i, b_i},
///   %s  = add(%c1, %c2)     -> unite(a_i, b_i)                     members w1[i,:], w2[i,:],
///   %y  = conv2d(%s, %w3)   -> w3 dim 1 index i joins a_i          w3[:,i]
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "ir/model.h"

namespace mc::prune {

/// How a tensor slice relates to its channel: `out` slices produce it (zeroing all of them makes
/// the channel exactly 0: conv/linear weight dim 0 and bias, BatchNorm weight and bias), `in`
/// slices consume it (weight dim 1), `stat` slices only describe it (running statistics,
/// per-channel constants and quantization parameters).
enum class Role { out, in, stat };

struct Member {
  std::string tensor;  // name in Model::tensors
  int64_t dim = 0;
  int64_t index = 0;
  Role role = Role::out;
  const ir::Node* node = nullptr;  // the node using the tensor
  bool operator<(const Member& o) const {
    return std::tie(tensor, dim, index) < std::tie(o.tensor, o.dim, o.index);
  }
};

/// The channel atoms of one value: `dims` (ascending) carry channels; `atoms` lists one atom per
/// position, row-major over those dims. Empty when the value's channels are not tracked (tensors
/// from the store, values after a reduction over channels).
struct ChannelMap {
  std::vector<int64_t> dims;
  std::vector<int64_t> atoms;
  bool empty() const { return atoms.empty(); }
};

/// One prunable channel: a union-find set of atoms and the tensor slices they own.
struct Unit {
  int64_t id = 0;  // smallest atom of the set: stable across clones of the same graph
  std::vector<Member> members;
};

/// Units produced by the same set of conv/linear layers; pruned at one ratio (uniform scope).
struct Group {
  std::string name;                        // scopes of the producing layers, "a + b + ..."
  std::vector<const ir::Node*> producers;  // conv2d/linear/matmul/embedding nodes with `out` members
  std::vector<Unit> units;
};

/// Choices of the analysis that trade exactness for prunable channels.
struct ChannelOptions {
  /// Channels a layer_norm normalises over (a transformer's embedding width, the residual stream)
  /// pass through it, its weight and bias owning one entry each, instead of being fixed. Removing
  /// such a channel is not output-preserving even when it is zero (the norm's mean and variance
  /// are then taken over fewer channels): a fine-tune has to follow.
  bool through_layer_norm = false;
};

class DependencyGraph {
 public:
  explicit DependencyGraph(const ir::Model& model, ChannelOptions options = {})
      : model_(model), options_(options) {}

  // --- used by channel rules while propagating ---
  const ir::Model& model() const { return model_; }
  const ChannelOptions& options() const { return options_; }
  /// The atoms of `v` (empty map when untracked).
  const ChannelMap& map(const ir::Value* v) const;
  void set_map(const ir::Value* v, ChannelMap m);
  /// `count` fresh atoms along `dim` of a value.
  ChannelMap fresh(int64_t dim, int64_t count);
  void unite(int64_t a, int64_t b);
  /// Marks the atom's unit as never prunable (reason kept for the first fix of the set).
  void fix(int64_t atom, const std::string& why);
  void fix(const ChannelMap& m, const std::string& why);
  void add_member(int64_t atom, Member m);
  /// Name of the stored tensor behind `v` (a param/constant node's output), else "".
  std::string stored_tensor(const ir::Value* v) const;

  // --- results ---
  int64_t find(int64_t atom) const;
  int64_t num_atoms() const { return static_cast<int64_t>(parent_.size()); }
  bool is_fixed(int64_t atom) const;
  /// Prunable groups in graph order of their first producer.
  std::vector<Group> groups() const;
  /// Canonical unit id (smallest atom of the set) of an atom.
  int64_t unit_of(int64_t atom) const;

 private:
  const ir::Model& model_;
  ChannelOptions options_;
  mutable std::vector<int64_t> parent_;
  std::vector<char> fixed_;  // per root, valid after unite() moved it
  std::vector<std::vector<Member>> members_;
  std::map<const ir::Value*, ChannelMap> maps_;
};

/// Builds the dependency graph of `model` by running every node's channel rule in topological
/// order. Graph inputs and outputs are fixed. An op without a channel rule is an InputError naming
/// the op and its scope.
DependencyGraph analyze_channels(const ir::Model& model, ChannelOptions options = {});

}  // namespace mc::prune
