#include "ir/op_registry.h"

#include <algorithm>
#include <mutex>

#include "common/error.h"
#include "ir/ops/ops.h"

namespace mc::ir {

OpRegistry& OpRegistry::instance() {
  static OpRegistry r;
  return r;
}

void OpRegistry::add(OpDef def, const char* file, int line) {
  registrants_.claim(def.name, call_site(file, line));
  std::string n = def.name;
  ops_[n] = std::move(def);
}

void OpRegistry::remove(const std::string& name) {
  ops_.erase(name);
  registrants_.release(name);
}

const OpDef* OpRegistry::find(const std::string& name) const {
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : &it->second;
}

const OpDef& OpRegistry::get(const Node& n) const {
  const OpDef* d = find(n.op());
  if (!d) throw Error("unknown " + n.describe() + " (not in the op registry; `compress ops` lists the known ones)");
  return *d;
}

std::vector<std::string> OpRegistry::names() const {
  std::vector<std::string> out;
  for (auto& [k, v] : ops_) out.push_back(k);
  return out;
}

void register_core_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& r = OpRegistry::instance();
    ops::register_source_ops(r);
    ops::register_conv_ops(r);
    ops::register_linear_ops(r);
    ops::register_norm_ops(r);
    ops::register_activation_ops(r);
    ops::register_elementwise_ops(r);
    ops::register_shape_ops(r);
    ops::register_pool_ops(r);
    ops::register_quant_ops(r);
    ops::register_shared_weight_ops(r);
    ops::register_cast_ops(r);
  });
}

void check_arity(const Node& n) {
  const OpDef& d = OpRegistry::instance().get(n);
  int ni = static_cast<int>(n.inputs().size());
  if (ni < d.min_inputs || (d.max_inputs >= 0 && ni > d.max_inputs)) {
    std::string want = d.max_inputs < 0 ? "at least " + std::to_string(d.min_inputs)
                       : d.min_inputs == d.max_inputs
                           ? std::to_string(d.min_inputs)
                           : std::to_string(d.min_inputs) + " to " + std::to_string(d.max_inputs);
    throw Error(n.describe() + " has " + std::to_string(ni) + " inputs, expected " + want);
  }
  if (d.num_outputs >= 0 && static_cast<int>(n.outputs().size()) != d.num_outputs)
    throw Error(n.describe() + " has " + std::to_string(n.outputs().size()) + " outputs, expected " +
                std::to_string(d.num_outputs));
}

void check_schema(const Node& n) {
  check_arity(n);
  const OpDef& d = OpRegistry::instance().get(n);
  for (auto& a : d.required_attrs)
    if (!n.attrs().has(a)) throw Error(n.describe() + " lacks its required attribute '" + a + "'");
  for (auto& [k, v] : n.attrs().all()) {
    bool known = std::find(d.required_attrs.begin(), d.required_attrs.end(), k) != d.required_attrs.end() ||
                 std::find(d.optional_attrs.begin(), d.optional_attrs.end(), k) != d.optional_attrs.end();
    if (!known) throw Error(n.describe() + " has an unknown attribute '" + k + "'");
  }
}

int64_t node_macs(const Node& n) {
  register_core_ops();
  const OpDef& d = OpRegistry::instance().get(n);
  if (!d.macs) return 0;
  std::vector<TensorType> in, out;
  for (auto* v : n.inputs()) in.push_back(v->type());
  for (auto* v : n.outputs()) out.push_back(v->type());
  return d.macs(n, in, out);
}

}  // namespace mc::ir
