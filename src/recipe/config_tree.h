// A YAML document as a tree that remembers where every value came from (file:line:col), so that
// every recipe error can point at its source, across `include:` files and `--set` overrides.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mc::recipe {

struct Location {
  std::string file;
  int line = 0;  // 1-based; 0 = unknown
  int col = 0;
  std::string str() const;     // "file:line:col"
  std::string prefix() const;  // "file:line:col: " for a message, "" when the line is unknown
};

class ConfigNode {
 public:
  enum class Kind { Null, Scalar, Map, Seq };

  ConfigNode() = default;
  static ConfigNode scalar(std::string v, Location loc);
  static ConfigNode map(Location loc);
  static ConfigNode seq(Location loc);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_scalar() const { return kind_ == Kind::Scalar; }
  bool is_map() const { return kind_ == Kind::Map; }
  bool is_seq() const { return kind_ == Kind::Seq; }
  const Location& loc() const { return loc_; }
  const std::string& value() const { return value_; }  // scalar text
  bool quoted() const { return quoted_; }                // scalar was quoted in the source

  // Map access (keys keep their source order).
  const std::vector<std::pair<std::string, ConfigNode>>& entries() const { return map_; }
  const ConfigNode* find(const std::string& key) const;
  ConfigNode* find(const std::string& key);
  /// Location of the key itself (for "unknown key" errors).
  Location key_loc(const std::string& key) const;
  void set(const std::string& key, ConfigNode v, Location key_loc);
  void erase(const std::string& key);

  // Sequence access.
  const std::vector<ConfigNode>& items() const { return seq_; }
  std::vector<ConfigNode>& items() { return seq_; }
  void push(ConfigNode v) { seq_.push_back(std::move(v)); }

  /// Deep merge: maps merge key by key (values of `over` win), everything else is replaced.
  static ConfigNode merge(const ConfigNode& base, const ConfigNode& over);

  /// YAML text (flow style for short leaves), for the effective recipe echo.
  std::string to_yaml() const;

  void set_quoted(bool q) { quoted_ = q; }

 private:
  Kind kind_ = Kind::Null;
  Location loc_;
  std::string value_;
  bool quoted_ = false;
  std::vector<std::pair<std::string, ConfigNode>> map_;
  std::vector<Location> key_locs_;
  std::vector<ConfigNode> seq_;
};

/// Parses YAML text; syntax errors -> InputError "file:line:col: ...".
ConfigNode parse_yaml(const std::string& text, const std::string& file);
ConfigNode load_yaml_file(const std::string& path);

}  // namespace mc::recipe
