// Duplicate-name checks shared by the registries (IR ops, pipeline stages, training extensions,
// ONNX export mappings, channel rules): a second registration under a name already taken is a bug
// in the registering code, so it is an error naming both registrants, never a silent replacement.
#pragma once
#include <map>
#include <string>

namespace mc {

/// Where a registration was made, e.g. "ops/conv.cpp:40" (the last two components of `file`).
/// Registries take `file`/`line` as defaulted `__builtin_FILE()` / `__builtin_LINE()` arguments,
/// so every call site is recorded without spelling itself out.
std::string call_site(const char* file, int line);

/// The registrant of every name in one registry.
class Registrants {
 public:
  /// `kind` names the registry's entries in messages ("op", "stage", "ONNX export mapping").
  explicit Registrants(std::string kind) : kind_(std::move(kind)) {}
  /// Records `name` as registered at `where`; throws mc::Error "<kind> 'name' is registered twice
  /// (first at A, again at B)" when it is taken.
  void claim(const std::string& name, const std::string& where);
  /// Frees `name` (a test's scoped registration ends).
  void release(const std::string& name) { where_.erase(name); }

 private:
  std::string kind_;
  std::map<std::string, std::string> where_;
};

}  // namespace mc
