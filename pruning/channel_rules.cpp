#include "pruning/channel_rules.h"

#include <map>
#include <mutex>

#include "common/registry.h"

namespace mc::prune {

namespace {
std::map<std::string, ChannelRule>& table() {
  static std::map<std::string, ChannelRule> t;
  return t;
}
Registrants& registrants() {
  static Registrants r("channel rule of op");
  return r;
}
}  // namespace

void register_channel_rule(const std::string& op, ChannelRule rule, const char* file, int line) {
  registrants().claim(op, call_site(file, line));
  table()[op] = std::move(rule);
}

void unregister_channel_rule(const std::string& op) {
  table().erase(op);
  registrants().release(op);
}

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
