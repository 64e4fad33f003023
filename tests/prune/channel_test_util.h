// Helpers of the structured-pruning tests: tiny models from IR text with random tensors, and the
// exactness check (zero the units' producing slices, remove them, compare outputs).
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/model.h"
#include "pruning/channel_removal.h"
#include "pruning/dependency_graph.h"
#include "runtime/executor.h"

namespace mc::prune::test {

/// A verified model from IR text; tensors get seeded random values ("var" names positive).
inline ir::Model tiny_model(const std::string& text, const std::map<std::string, std::vector<int64_t>>& shapes) {
  at::manual_seed(3);
  ir::Model m;
  m.graph = ir::Graph::parse(text, "channel_test");
  for (auto& [name, shape] : shapes)
    m.tensors[name] = name.find("var") != std::string::npos ? at::rand(shape) + 0.5 : at::randn(shape);
  m.infer_shapes();
  m.verify();
  return m;
}

/// "name:units" of every group, e.g. {"conv1 + conv2:8", "conv3:6"}.
inline std::vector<std::string> group_summary(const DependencyGraph& g) {
  std::vector<std::string> out;
  for (const Group& grp : g.groups()) out.push_back(grp.name + ":" + std::to_string(grp.units.size()));
  return out;
}

/// Members (tensor/dim) of unit `u` of group `gi`, as "tensor@dim" strings (sorted, unique).
inline std::set<std::string> member_tensors(const DependencyGraph& g, size_t gi, size_t u = 0) {
  std::set<std::string> s;
  const std::vector<Group> groups = g.groups();
  for (const Member& m : groups.at(gi).units.at(u).members) s.insert(m.tensor + "@" + std::to_string(m.dim));
  return s;
}

/// Units at positions `picks` of every group.
inline std::set<int64_t> pick_units(const DependencyGraph& g, const std::vector<size_t>& picks) {
  std::set<int64_t> out;
  for (const Group& grp : g.groups())
    for (size_t p : picks)
      if (p < grp.units.size() - 1) out.insert(grp.units[p].id);
  return out;
}

/// Zeroes the producing slices of `units`, then removes them from a clone: both must compute the
/// same outputs, and the clone must be smaller. Returns the pruned model.
inline ir::Model expect_exact_removal(ir::Model& m, const std::set<int64_t>& units, const at::Tensor& x) {
  EXPECT_FALSE(units.empty());
  DependencyGraph g = analyze_channels(m);
  const at::Tensor before_zero = runtime::Executor(m).run1(x);
  zero_units(m, g, units);
  const at::Tensor ref = runtime::Executor(m).run1(x);
  EXPECT_FALSE(at::allclose(before_zero, ref)) << "zeroing the units changed nothing: the test would be vacuous";
  ir::Model p = m.clone();
  DependencyGraph gp = analyze_channels(p);
  RemovalSummary s = remove_channels(p, gp, units);
  EXPECT_EQ(s.units, static_cast<int64_t>(units.size()));
  EXPECT_LT(p.num_params(), m.num_params());
  const at::Tensor got = runtime::Executor(p).run1(x);
  EXPECT_EQ(got.sizes(), ref.sizes());
  EXPECT_TRUE(at::allclose(got, ref, 1e-5, 1e-5)) << "max diff " << (got - ref).abs().max().item<double>();
  return p;
}

}  // namespace mc::prune::test
