#include "lowrank/factor_chains.h"

#include <map>

#include "ir/op_registry.h"

namespace mc::lowrank {

namespace {
// "layer1.0.conv1.lr2" -> {"layer1.0.conv1", 2}; -1 when the scope is not a factor's.
std::pair<std::string, int> split_factor_scope(const std::string& scope) {
  const size_t dot = scope.rfind('.');
  const std::string last = dot == std::string::npos ? scope : scope.substr(dot + 1);
  if (last.size() < 3 || last.compare(0, 2, "lr") != 0 || last.find_first_not_of("0123456789", 2) != std::string::npos)
    return {"", -1};
  return {dot == std::string::npos ? "" : scope.substr(0, dot), std::stoi(last.substr(2))};
}

std::string infer(const std::vector<const ir::Node*>& f, std::vector<int64_t>& ranks) {
  auto w = [&](size_t i) { return f[i]->input(1)->shape(); };
  if (f[0]->op() != "conv2d") {
    ranks = {f[0]->output()->shape().empty() ? 0 : f[0]->output()->shape().back()};
    return f.size() == 2 ? "svd" : "?";
  }
  for (const ir::Node* n : f)
    if (n->op() != "conv2d" || n->input(1)->shape().size() != 4) return "?";
  const bool point0 = w(0)[2] == 1 && w(0)[3] == 1;
  ranks = {w(0)[0]};
  if (f.size() == 2 && w(1)[2] == 1 && w(1)[3] == 1) return "channel_svd";
  if (f.size() == 2 && w(0)[3] == 1 && w(1)[2] == 1) return "spatial_svd";
  if (f.size() == 3 && point0) {
    ranks = {w(1)[1], w(1)[0]};
    return "tucker2";
  }
  if (f.size() == 4 && point0 && f[1]->attrs().i("groups", 1) == w(0)[0]) return "cp";
  return "?";
}
}  // namespace

std::vector<FactorChain> find_factor_chains(const ir::Model& m) {
  std::vector<FactorChain> out;
  std::map<std::string, std::vector<const ir::Node*>> chains;
  std::vector<std::string> order;
  for (const ir::Node* n : m.graph.nodes()) {
    if (n->op() != "conv2d" && n->op() != "linear" && n->op() != "matmul") continue;
    const auto [base, k] = split_factor_scope(n->scope());
    if (k < 0) continue;
    if (!chains.count(base)) order.push_back(base);
    chains[base].push_back(n);
  }
  for (const std::string& base : order) {
    const auto& f = chains[base];
    FactorChain c;
    c.scope = base;
    c.factors = static_cast<int64_t>(f.size());
    c.method = infer(f, c.ranks);
    for (const ir::Node* n : f) {
      c.macs += ir::node_macs(*n);
      for (const ir::Value* v : n->inputs())
        if (v->producer() && v->producer()->op() == "param") c.params += m.tensor(v->producer()->attrs().s("name")).numel();
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace mc::lowrank
