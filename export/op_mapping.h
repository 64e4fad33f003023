// Export knowledge per IR op: how a node becomes ONNX nodes. Keyed by IR op name, registered per
// op family in export/ops/*.cpp (explicitly, from register_export_ops(); no static registration).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/registry.h"
#include "export/export_context.h"

namespace mc::exporter {

/// Emits the ONNX nodes for `n` through `ctx`; must give every output of `n` an ONNX name
/// (ctx.out() as a node output, or ctx.alias()). Throws InputError naming the node when the
/// node's attributes have no ONNX equivalent at ctx.opset().
using ExportFn = std::function<void(const ir::Node& n, ExportContext& ctx)>;

class ExportRegistry {
 public:
  static ExportRegistry& instance();
  /// Registers the mapping of IR op `op`; an op already mapped is an mc::Error naming both call sites.
  void add(const std::string& op, ExportFn fn, const char* file = __builtin_FILE(), int line = __builtin_LINE());
  /// Unregisters a mapping (tests undo their registrations with it); no-op when absent.
  void remove(const std::string& op);
  const ExportFn* find(const std::string& op) const;  // nullptr when the op has no mapping
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ExportFn> fns_;
  Registrants registrants_{"ONNX export mapping of op"};
};

/// Registers every mapping (idempotent).
void register_export_ops();

}  // namespace mc::exporter
