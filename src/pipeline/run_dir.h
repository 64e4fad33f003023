// The run directory: effective recipe, log, checkpoints after each stage, state for --resume,
// and the report. Every file is written atomically.
#pragma once
#include <string>

namespace mc::pipeline {

class RunDir {
 public:
  explicit RunDir(std::string path) : path_(std::move(path)) {}
  /// Creates the directory (and ckpt/); InputError when it cannot.
  void create() const;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string checkpoint(int index, const std::string& stage) const;

  struct State {
    std::string recipe_hash;
    int finished = 0;            // stages finished (0 = none)
    std::string checkpoint;      // model after the last finished stage
    bool modifiers_pending = false;  // that stage left training modifiers for the next one
  };
  void write_state(const State& s) const;
  /// InputError when there is nothing to resume.
  State read_state() const;

 private:
  std::string path_;
};

}  // namespace mc::pipeline
