#include "pruning/channel_rules.h"

#include <map>
#include <mutex>

namespace mc::prune {

namespace {
std::map<std::string, ChannelRule>& table() {
  static std::map<std::string, ChannelRule> t;
  return t;
}
}  // namespace

void register_channel_rule(const std::string& op, ChannelRule rule) { table()[op] = std::move(rule); }

const ChannelRule* find_channel_rule(const std::string& op) {
  static std::once_flag once;
  std::call_once(once, [] {
    register_channel_rules_layers();
    register_channel_rules_elementwise();
    register_channel_rules_shape();
  });
  auto it = table().find(op);
  return it == table().end() ? nullptr : &it->second;
}

int64_t kept_positions(const ChannelMap& m, const RemovedAtoms& removed) {
  int64_t n = 0;
  for (int64_t a : m.atoms) n += !removed[a];
  return n;
}

}  // namespace mc::prune
