#include "recipe/config_tree.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"

namespace mc::recipe {

std::string Location::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

std::string Location::prefix() const { return line > 0 ? str() + ": " : std::string(); }

ConfigNode ConfigNode::scalar(std::string v, Location loc) {
  ConfigNode n;
  n.kind_ = Kind::Scalar;
  n.value_ = std::move(v);
  n.loc_ = std::move(loc);
  return n;
}
ConfigNode ConfigNode::map(Location loc) {
  ConfigNode n;
  n.kind_ = Kind::Map;
  n.loc_ = std::move(loc);
  return n;
}
ConfigNode ConfigNode::seq(Location loc) {
  ConfigNode n;
  n.kind_ = Kind::Seq;
  n.loc_ = std::move(loc);
  return n;
}

const ConfigNode* ConfigNode::find(const std::string& key) const {
  for (auto& [k, v] : map_)
    if (k == key) return &v;
  return nullptr;
}
ConfigNode* ConfigNode::find(const std::string& key) {
  for (auto& [k, v] : map_)
    if (k == key) return &v;
  return nullptr;
}
Location ConfigNode::key_loc(const std::string& key) const {
  for (size_t i = 0; i < map_.size(); ++i)
    if (map_[i].first == key) return key_locs_[i];
  return loc_;
}
void ConfigNode::set(const std::string& key, ConfigNode v, Location kl) {
  if (kind_ != Kind::Map) {
    kind_ = Kind::Map;
    map_.clear();
    key_locs_.clear();
  }
  for (size_t i = 0; i < map_.size(); ++i)
    if (map_[i].first == key) {
      map_[i].second = std::move(v);
      key_locs_[i] = std::move(kl);
      return;
    }
  map_.emplace_back(key, std::move(v));
  key_locs_.push_back(std::move(kl));
}
void ConfigNode::erase(const std::string& key) {
  for (size_t i = 0; i < map_.size(); ++i)
    if (map_[i].first == key) {
      map_.erase(map_.begin() + static_cast<std::ptrdiff_t>(i));
      key_locs_.erase(key_locs_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
}

ConfigNode ConfigNode::merge(const ConfigNode& base, const ConfigNode& over) {
  if (!base.is_map() || !over.is_map()) return over;
  ConfigNode out = base;
  for (size_t i = 0; i < over.map_.size(); ++i) {
    const auto& [k, v] = over.map_[i];
    const ConfigNode* b = out.find(k);
    out.set(k, b ? merge(*b, v) : v, over.key_locs_[i]);
  }
  out.loc_ = over.loc_;
  return out;
}

namespace {
ConfigNode convert(const YAML::Node& y, const std::string& file) {
  Location loc{file, y.Mark().line + 1, y.Mark().column + 1};
  switch (y.Type()) {
    case YAML::NodeType::Scalar: {
      ConfigNode n = ConfigNode::scalar(y.Scalar(), loc);
      n.set_quoted(y.Tag() == "!");
      return n;
    }
    case YAML::NodeType::Sequence: {
      ConfigNode n = ConfigNode::seq(loc);
      for (const auto& item : y) n.push(convert(item, file));
      return n;
    }
    case YAML::NodeType::Map: {
      ConfigNode n = ConfigNode::map(loc);
      for (const auto& kv : y) {
        Location kl{file, kv.first.Mark().line + 1, kv.first.Mark().column + 1};
        std::string key = kv.first.Scalar();
        if (n.find(key)) throw InputError(kl.str() + ": duplicate key '" + key + "'");
        n.set(key, convert(kv.second, file), kl);
      }
      return n;
    }
    default: {
      ConfigNode n;
      return n;
    }
  }
}

void emit(const ConfigNode& n, YAML::Emitter& out) {
  switch (n.kind()) {
    case ConfigNode::Kind::Null: out << YAML::Null; break;
    case ConfigNode::Kind::Scalar:
      if (n.quoted()) out << YAML::DoubleQuoted;
      out << n.value();
      break;
    case ConfigNode::Kind::Seq: {
      bool leaves = true;
      for (auto& i : n.items()) leaves = leaves && i.is_scalar();
      if (leaves) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (auto& i : n.items()) emit(i, out);
      out << YAML::EndSeq;
      break;
    }
    case ConfigNode::Kind::Map:
      out << YAML::BeginMap;
      for (auto& [k, v] : n.entries()) {
        out << YAML::Key << k << YAML::Value;
        emit(v, out);
      }
      out << YAML::EndMap;
      break;
  }
}
}  // namespace

std::string ConfigNode::to_yaml() const {
  YAML::Emitter out;
  emit(*this, out);
  return std::string(out.c_str()) + "\n";
}

ConfigNode parse_yaml(const std::string& text, const std::string& file) {
  try {
    return convert(YAML::Load(text), file);
  } catch (const YAML::Exception& e) {
    Location loc{file, e.mark.line + 1, e.mark.column + 1};
    throw InputError(loc.str() + ": YAML syntax error: " + e.msg);
  }
}

ConfigNode load_yaml_file(const std::string& path) {
  if (!std::filesystem::exists(path)) throw InputError("recipe file '" + path + "' does not exist");
  return parse_yaml(read_file(path), path);
}

}  // namespace mc::recipe
