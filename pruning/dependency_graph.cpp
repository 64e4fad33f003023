#include "pruning/dependency_graph.h"

#include <algorithm>
#include <set>

#include "common/error.h"
#include "pruning/channel_rules.h"

namespace mc::prune {

namespace {
const ChannelMap kEmpty;
}

const ChannelMap& DependencyGraph::map(const ir::Value* v) const {
  auto it = maps_.find(v);
  return it == maps_.end() ? kEmpty : it->second;
}

void DependencyGraph::set_map(const ir::Value* v, ChannelMap m) { maps_[v] = std::move(m); }

ChannelMap DependencyGraph::fresh(int64_t dim, int64_t count) {
  ChannelMap m;
  m.dims = {dim};
  for (int64_t i = 0; i < count; ++i) {
    m.atoms.push_back(num_atoms());
    parent_.push_back(num_atoms());
    fixed_.push_back(0);
    members_.emplace_back();
  }
  return m;
}

int64_t DependencyGraph::find(int64_t a) const {
  while (parent_[a] != a) {
    parent_[a] = parent_[parent_[a]];
    a = parent_[a];
  }
  return a;
}

void DependencyGraph::unite(int64_t a, int64_t b) {
  a = find(a);
  b = find(b);
  if (a == b) return;
  if (b < a) std::swap(a, b);  // the smallest atom stays the root: canonical unit ids
  parent_[b] = a;
  fixed_[a] = fixed_[a] || fixed_[b];
}

void DependencyGraph::fix(int64_t atom, const std::string&) { fixed_[find(atom)] = 1; }

void DependencyGraph::fix(const ChannelMap& m, const std::string& why) {
  for (int64_t a : m.atoms) fix(a, why);
}

void DependencyGraph::add_member(int64_t atom, Member m) { members_[atom].push_back(std::move(m)); }

std::string DependencyGraph::stored_tensor(const ir::Value* v) const {
  const ir::Node* p = v->producer();
  if (p && (p->op() == "param" || p->op() == "constant")) return p->attrs().s("name");
  return "";
}

bool DependencyGraph::is_fixed(int64_t atom) const { return fixed_[find(atom)] != 0; }

int64_t DependencyGraph::unit_of(int64_t atom) const { return find(atom); }

std::vector<Group> DependencyGraph::groups() const {
  // Collect members per unit.
  std::map<int64_t, std::set<Member>> unit_members;
  for (int64_t a = 0; a < num_atoms(); ++a) {
    if (is_fixed(a)) continue;
    auto& s = unit_members[find(a)];
    s.insert(members_[a].begin(), members_[a].end());
  }
  // Node order for stable group naming/order.
  std::map<const ir::Node*, size_t> order;
  {
    size_t i = 0;
    for (const ir::Node* n : model_.graph.nodes()) order[n] = i++;
  }
  auto by_order = [&](const ir::Node* a, const ir::Node* b) { return order.at(a) < order.at(b); };
  std::map<std::vector<const ir::Node*>, Group> buckets;
  for (auto& [id, ms] : unit_members) {
    std::vector<const ir::Node*> producers;
    for (const Member& m : ms) {
      const std::string& op = m.node->op();
      if (m.role == Role::out && (op == "conv2d" || op == "linear" || op == "matmul" || op == "embedding") &&
          std::find(producers.begin(), producers.end(), m.node) == producers.end())
        producers.push_back(m.node);
    }
    if (producers.empty()) continue;  // nothing produces it (cannot shrink anything)
    std::sort(producers.begin(), producers.end(), by_order);
    Group& g = buckets[producers];
    g.producers = producers;
    g.units.push_back(Unit{id, std::vector<Member>(ms.begin(), ms.end())});
  }
  std::vector<Group> out;
  for (auto& [key, g] : buckets) {
    for (size_t i = 0; i < g.producers.size(); ++i) {
      const std::string& s = g.producers[i]->scope();
      g.name += (i ? " + " : "") + (s.empty() ? g.producers[i]->output()->name() : s);
    }
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(),
            [&](const Group& a, const Group& b) { return by_order(a.producers[0], b.producers[0]); });
  return out;
}

DependencyGraph analyze_channels(const ir::Model& model, ChannelOptions options) {
  DependencyGraph g(model, options);
  for (const ir::Value* in : model.graph.inputs()) {
    const ir::Shape& s = in->shape();
    if (s.size() < 2) continue;
    int64_t dim = s.size() == 4 ? 1 : static_cast<int64_t>(s.size()) - 1;
    ChannelMap m = g.fresh(dim, s[dim]);
    g.fix(m, "graph input");
    g.set_map(in, m);
  }
  for (const ir::Node* n : model.graph.nodes()) {
    if (n->op() == "param" || n->op() == "constant") continue;
    const ChannelRule* rule = find_channel_rule(n->op());
    if (!rule)
      throw InputError("structured pruning: no channel rule for " + n->describe() +
                       ": it cannot tell how channels flow through this op (hint: add a rule for it in "
                       "pruning/channel_rules_*.cpp, or use unstructured `prune` on this model)");
    rule->propagate(*n, g);
  }
  for (const ir::Value* out : model.graph.outputs()) g.fix(g.map(out), "graph output");
  return g;
}

}  // namespace mc::prune
