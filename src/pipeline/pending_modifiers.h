// Pending training modifiers across `--resume`: a stage may install modifiers (pruning masks, AGP,
// QAT observers) that a later training stage drives. The run directory keeps their state after
// every stage (train::Modifier::pending_state, RunDir::State::modifiers); on --resume each one is
// rebuilt by the restorer registered for its kind (each folder's register.cpp), so the training
// stage sees the same modifiers as in an uninterrupted run.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "train/modifier.h"

namespace mc::pipeline {

using ModifierRestorer = std::function<std::shared_ptr<train::Modifier>(const train::ModifierState&)>;

class ModifierRestorers {
 public:
  void add(const std::string& kind, ModifierRestorer restorer);
  /// Rebuilds the modifier. InputError starting with `where` (the state file) when the kind has
  /// no restorer or its settings do not parse.
  std::shared_ptr<train::Modifier> restore(const train::ModifierState& state, const std::string& where) const;

 private:
  std::map<std::string, ModifierRestorer> by_kind_;
};

/// The states of `modifiers`; a modifier without one (pending_state() == nullopt) is kept as kind
/// "" with its name in settings["name"], which restore() refuses with a message naming it.
std::vector<train::ModifierState> pending_states(const std::vector<std::shared_ptr<train::Modifier>>& modifiers);

}  // namespace mc::pipeline
