#include "export/op_mapping.h"

#include <mutex>

#include "common/error.h"
#include "export/ops/ops.h"

namespace mc::exporter {

ExportRegistry& ExportRegistry::instance() {
  static ExportRegistry r;
  return r;
}

void ExportRegistry::add(const std::string& op, ExportFn fn, const char* file, int line) {
  registrants_.claim(op, call_site(file, line));
  fns_[op] = std::move(fn);
}

void ExportRegistry::remove(const std::string& op) {
  fns_.erase(op);
  registrants_.release(op);
}

const ExportFn* ExportRegistry::find(const std::string& op) const {
  auto it = fns_.find(op);
  return it == fns_.end() ? nullptr : &it->second;
}

std::vector<std::string> ExportRegistry::names() const {
  std::vector<std::string> v;
  for (auto& [k, fn] : fns_) v.push_back(k);
  return v;
}

void register_export_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& r = ExportRegistry::instance();
    ops::register_conv(r);
    ops::register_linear(r);
    ops::register_norm(r);
    ops::register_activation(r);
    ops::register_elementwise(r);
    ops::register_shape(r);
    ops::register_pool(r);
    ops::register_quant(r);
    ops::register_shared_weight(r);
    ops::register_cast(r);
  });
}

namespace ops {

void unsupported(const ir::Node& n, const std::string& what) {
  throw InputError(n.describe() + ": " + what);
}

std::vector<int64_t> pair_attr(const ir::Node& n, const std::string& key, std::vector<int64_t> dflt) {
  std::vector<int64_t> v = n.attrs().is(key, dflt);
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) unsupported(n, "attribute '" + key + "' must have 2 values");
  return v;
}

}  // namespace ops
}  // namespace mc::exporter
