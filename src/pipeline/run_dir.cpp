#include "pipeline/run_dir.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"

namespace mc::pipeline {
namespace fs = std::filesystem;

void RunDir::create() const {
  std::error_code ec;
  fs::create_directories(fs::path(path_) / "ckpt", ec);
  if (ec) throw InputError("cannot create run directory '" + path_ + "': " + ec.message() + " (choose another --out)");
}

std::string RunDir::checkpoint(int index, const std::string& stage) const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d", index);
  return path_ + "/ckpt/" + buf + "_" + stage + ".mcm";
}

void RunDir::write_state(const State& s) const {
  nlohmann::json j{{"recipe_hash", s.recipe_hash},
                   {"finished", s.finished},
                   {"checkpoint", s.checkpoint},
                   {"modifiers_pending", s.modifiers_pending}};
  write_file_atomically(file("state.json"), [&](std::ostream& o) { o << j.dump(2) << "\n"; });
}

RunDir::State RunDir::read_state() const {
  std::string f = file("state.json");
  if (!fs::exists(f)) throw InputError("--resume: '" + path_ + "' has no state.json (no earlier run to continue; drop --resume)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(f));
  } catch (const nlohmann::json::exception& e) {
    throw InputError("--resume: '" + f + "' is corrupt (" + e.what() + "); delete the run directory and start again");
  }
  State s;
  s.recipe_hash = j.value("recipe_hash", "");
  s.finished = j.value("finished", 0);
  s.checkpoint = j.value("checkpoint", "");
  s.modifiers_pending = j.value("modifiers_pending", false);
  return s;
}

}  // namespace mc::pipeline
