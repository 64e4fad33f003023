// The run directory: effective recipe, log, checkpoints after each stage, state for --resume,
// and the report. Every file is written atomically.
//
//   recipe.yaml  log.txt  report.json  report.md  state.json
//   ckpt/00_load.mcm                 the model as loaded (RunContext::original)
//   ckpt/NN_<stage>.mcm              the model after stage NN
//   ckpt/NN_pending_modifiers.pt     tensors of the modifiers pending after stage NN (when any)
#pragma once
#include <map>
#include <string>
#include <vector>

#include "train/modifier.h"

namespace mc::pipeline {

class RunDir {
 public:
  explicit RunDir(std::string path) : path_(std::move(path)) {}
  /// Creates the directory (and ckpt/); InputError when it cannot.
  void create() const;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Checkpoint after stage `index` (1-based); index 0 is the model as loaded ("load").
  std::string checkpoint(int index, const std::string& stage) const;
  /// How to go on when a run cannot be resumed, appended to those messages.
  std::string restart_hint() const { return "; delete the run directory '" + path_ + "' or run again without --resume"; }

  /// Everything a later stage depends on besides the model checkpoint, after `finished` stages.
  struct State {
    std::string recipe_hash;
    int finished = 0;                        // stages finished (0 = none)
    std::string checkpoint;                  // model after the last finished stage
    std::map<std::string, int> storage_bits; // RunContext::storage_bits
    /// RunContext::modifiers: installed by any earlier stage for a later training stage.
    std::vector<train::ModifierState> modifiers;
  };
  /// Writes the modifiers' tensors (ckpt/NN_pending_modifiers.pt), then state.json, each atomically.
  void write_state(const State& s) const;
  /// InputError (naming the file, what is wrong and how to go on) when there is nothing to resume
  /// or state.json / its tensor file is corrupt or from another version.
  State read_state() const;

 private:
  std::string path_;
};

}  // namespace mc::pipeline
