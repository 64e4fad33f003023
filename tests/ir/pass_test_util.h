// Helpers shared by the pass tests: a verified Model from IR text, and op counts.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>

#include "ir/model.h"
#include "ir/passes/pass_util.h"

namespace mc::ir::pass_test {

/// Parses `text`, attaches `tensors`, infers shapes and verifies.
inline Model make(const std::string& text, std::map<std::string, at::Tensor> tensors) {
  Model m;
  m.graph = Graph::parse(text, "pass_test");
  m.tensors = std::move(tensors);
  m.infer_shapes();
  m.verify();
  return m;
}

/// Number of nodes with op `op`.
inline int64_t count(const Model& m, const std::string& op) {
  auto c = passes::op_counts(m.graph);
  return c.count(op) ? c.at(op) : 0;
}

}  // namespace mc::ir::pass_test
