#include "pruning/channel_removal.h"

#include <ATen/ATen.h>

#include <map>
#include <utility>

#include "common/error.h"
#include "pruning/channel_rules.h"

namespace mc::prune {

namespace {
// (tensor, dim) -> indices owned by the given units, filtered by role.
std::map<std::pair<std::string, int64_t>, std::set<int64_t>> slices_of(const DependencyGraph& graph,
                                                                      const std::set<int64_t>& units,
                                                                      bool out_only) {
  std::set<int64_t> found;
  std::map<std::pair<std::string, int64_t>, std::set<int64_t>> slices;
  for (const Group& g : graph.groups())
    for (const Unit& u : g.units) {
      if (!units.count(u.id)) continue;
      found.insert(u.id);
      for (const Member& m : u.members)
        if (!out_only || m.role == Role::out) slices[{m.tensor, m.dim}].insert(m.index);
    }
  for (int64_t id : units)
    if (!found.count(id))
      throw InputError("structured pruning: channel unit " + std::to_string(id) +
                       " is not prunable (it reaches a graph input/output or a channel-mixing op)");
  return slices;
}
}  // namespace

RemovalSummary remove_channels(ir::Model& model, const DependencyGraph& graph, const std::set<int64_t>& units) {
  RemovalSummary s;
  auto slices = slices_of(graph, units, false);
  for (auto& [key, idx] : slices) {
    at::Tensor& t = model.tensors.at(key.first);
    const int64_t n = t.size(key.second);
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < n; ++i)
      if (!idx.count(i)) keep.push_back(i);
    const bool grad = t.requires_grad();
    t = t.detach().index_select(key.second, at::tensor(keep, at::kLong)).contiguous();
    if (grad) t.requires_grad_(true);
    ++s.tensors;
  }
  RemovedAtoms removed(graph.num_atoms(), 0);
  for (int64_t a = 0; a < graph.num_atoms(); ++a) removed[a] = units.count(graph.unit_of(a)) ? 1 : 0;
  for (ir::Node* n : model.graph.nodes()) {
    const ChannelRule* rule = find_channel_rule(n->op());
    if (rule && rule->update) rule->update(*n, graph, removed);
  }
  model.infer_shapes();
  model.verify();
  s.units = static_cast<int64_t>(units.size());
  return s;
}

void zero_units(ir::Model& model, const DependencyGraph& graph, const std::set<int64_t>& units) {
  at::NoGradGuard no_grad;
  for (auto& [key, idx] : slices_of(graph, units, true)) {
    at::Tensor& t = model.tensors.at(key.first);
    for (int64_t i : idx) t.select(key.second, i).zero_();
  }
}

}  // namespace mc::prune
