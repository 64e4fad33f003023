// Small helpers shared by the importer's op-handler files (torchscript_ops*.cpp).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "frontend/torchscript_internal.h"

namespace mc::frontend::ts {

using Attrs = ir::Attrs;
using Ints = std::vector<int64_t>;

inline int64_t rank(const ir::Value* v) { return v->type().rank(); }
inline int64_t wrap(OpCtx& c, int64_t d, int64_t r) {
  int64_t w = d < 0 ? d + r : d;
  if (w < 0 || w >= r) c.fail("dim " + std::to_string(d) + " out of range for rank " + std::to_string(r));
  return w;
}
inline Ints pair(OpCtx& c, size_t k) {
  Ints v = c.ints(k);
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) c.fail("argument " + std::to_string(k) + " must have 2 values (only 2-d ops are supported)");
  return v;
}
inline Attrs attrs(std::initializer_list<std::pair<const char*, ir::Attr>> kv) {
  Attrs a;
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}
inline ir::Value* const_tensor(OpCtx& c, at::Tensor t) { return c.im.materialize(AVal::constant(t), nullptr); }
/// The first IR tensor among the inputs (for the dtype of scalar constants).
inline const ir::Value* ir_like(OpCtx& c) {
  for (auto& a : c.in)
    if (a.is_tensor()) return a.value;
  return nullptr;
}

/// The node's output is its first input (no new tensor).
inline void alias(OpCtx& c) { c.out[0] = c.in[0]; }

}  // namespace mc::frontend::ts
