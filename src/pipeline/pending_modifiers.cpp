#include "pipeline/pending_modifiers.h"

#include "common/error.h"

namespace mc::pipeline {

void ModifierRestorers::add(const std::string& kind, ModifierRestorer restorer) { by_kind_[kind] = std::move(restorer); }

std::shared_ptr<train::Modifier> ModifierRestorers::restore(const train::ModifierState& state,
                                                            const std::string& where) const {
  if (state.kind.empty())
    throw InputError(where + ": the pending training modifier '" + state.settings.value("name", std::string("?")) +
                     "' cannot be restored, so this run cannot continue");
  auto it = by_kind_.find(state.kind);
  if (it == by_kind_.end())
    throw InputError(where + ": unknown pending training modifier '" + state.kind + "'");
  try {
    return it->second(state);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(where + ": the state of the pending '" + state.kind + "' modifier is invalid (" + e.what() + ")");
  }
}

std::vector<train::ModifierState> pending_states(const std::vector<std::shared_ptr<train::Modifier>>& modifiers) {
  std::vector<train::ModifierState> out;
  for (const auto& m : modifiers) {
    std::optional<train::ModifierState> s = m->pending_state();
    if (!s) {
      s.emplace();
      s->settings["name"] = m->name();
    }
    out.push_back(std::move(*s));
  }
  return out;
}

}  // namespace mc::pipeline
