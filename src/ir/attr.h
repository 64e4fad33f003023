// Typed node attributes.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace mc::ir {

using Attr = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;

/// Attributes of a node, ordered by name (so printing is deterministic).
class Attrs {
 public:
  bool has(const std::string& k) const { return map_.count(k) != 0; }
  void set(const std::string& k, Attr v) { map_[k] = std::move(v); }
  void erase(const std::string& k) { map_.erase(k); }
  const std::map<std::string, Attr>& all() const { return map_; }

  // Typed getters: throw mc::Error naming the key when missing or of the wrong type.
  int64_t i(const std::string& k) const;
  double f(const std::string& k) const;  // accepts an int attribute too
  const std::string& s(const std::string& k) const;
  const std::vector<int64_t>& is(const std::string& k) const;
  std::vector<double> fs(const std::string& k) const;

  int64_t i(const std::string& k, int64_t dflt) const { return has(k) ? i(k) : dflt; }
  double f(const std::string& k, double dflt) const { return has(k) ? f(k) : dflt; }
  std::string s(const std::string& k, const std::string& dflt) const { return has(k) ? s(k) : dflt; }
  std::vector<int64_t> is(const std::string& k, std::vector<int64_t> dflt) const { return has(k) ? is(k) : dflt; }

  bool operator==(const Attrs& o) const { return map_ == o.map_; }

 private:
  std::map<std::string, Attr> map_;
};

std::string attr_str(const Attr& a);

}  // namespace mc::ir
