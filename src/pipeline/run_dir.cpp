#include "pipeline/run_dir.h"

#include <nlohmann/json.hpp>
#include <torch/serialize.h>

#include <cstdio>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"

namespace mc::pipeline {
namespace fs = std::filesystem;

namespace {

constexpr const char* kStateFormat = "compress-run-state-2";

std::string two_digits(int index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d", index);
  return buf;
}

// The modifiers' tensors, as "<modifier index>/<tensor name>" in one torch archive.
void write_modifier_tensors(const std::string& path, const std::vector<train::ModifierState>& mods) {
  write_path_atomically(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive ar;
    for (size_t i = 0; i < mods.size(); ++i)
      for (auto& [name, t] : mods[i].tensors) ar.write(std::to_string(i) + "/" + name, t.detach().to(at::kCPU), true);
    ar.save_to(tmp);
  });
}

nlohmann::json modifier_json(const train::ModifierState& m) {
  nlohmann::json names = nlohmann::json::array();
  for (auto& [name, t] : m.tensors) names.push_back(name);
  return {{"kind", m.kind}, {"settings", m.settings}, {"tensors", names}};
}

}  // namespace

void RunDir::create() const {
  std::error_code ec;
  fs::create_directories(fs::path(path_) / "ckpt", ec);
  if (ec) throw InputError("cannot create run directory '" + path_ + "': " + ec.message() + " (choose another --out)");
}

std::string RunDir::checkpoint(int index, const std::string& stage) const {
  return path_ + "/ckpt/" + two_digits(index) + "_" + stage + ".mcm";
}

void RunDir::write_state(const State& s) const {
  nlohmann::json mods = nlohmann::json::array();
  bool tensors = false;
  for (auto& m : s.modifiers) {
    mods.push_back(modifier_json(m));
    tensors = tensors || !m.tensors.empty();
  }
  const std::string tensor_file = "ckpt/" + two_digits(s.finished) + "_pending_modifiers.pt";
  if (tensors) write_modifier_tensors(file(tensor_file), s.modifiers);
  nlohmann::json j{{"format", kStateFormat},
                   {"recipe_hash", s.recipe_hash},
                   {"finished", s.finished},
                   {"checkpoint", s.checkpoint},
                   {"storage_bits", s.storage_bits},
                   {"pending_modifiers", mods},
                   {"modifier_tensors", tensors ? tensor_file : std::string()}};
  write_file_atomically(file("state.json"), [&](std::ostream& o) { o << j.dump(2) << "\n"; });
}

namespace {

void read_modifier_tensors(const std::string& path, std::vector<train::ModifierState>& mods, const std::string& fix) {
  if (!fs::exists(path)) throw InputError("--resume: '" + path + "' (named by state.json) does not exist" + fix);
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path);
    for (size_t i = 0; i < mods.size(); ++i)
      for (auto& [name, t] : mods[i].tensors) ar.read(std::to_string(i) + "/" + name, t, true);
  } catch (const c10::Error& e) {
    throw InputError("--resume: '" + path + "' is corrupt (" + e.what_without_backtrace() + ")" + fix);
  }
}

}  // namespace

RunDir::State RunDir::read_state() const {
  const std::string f = file("state.json");
  const std::string fix = restart_hint();
  if (!fs::exists(f)) throw InputError("--resume: '" + path_ + "' has no state.json (no earlier run to continue; drop --resume)");
  State s;
  std::string tensor_file;
  try {
    const nlohmann::json j = nlohmann::json::parse(read_file(f));
    if (!j.is_object() || j.value("format", std::string()) != kStateFormat)
      throw InputError("--resume: '" + f + "' is not a '" + kStateFormat + "' state (written by another version of compress)" + fix);
    s.recipe_hash = j.at("recipe_hash").get<std::string>();
    s.finished = j.at("finished").get<int>();
    s.checkpoint = j.at("checkpoint").get<std::string>();
    s.storage_bits = j.at("storage_bits").get<std::map<std::string, int>>();
    for (const auto& m : j.at("pending_modifiers")) {
      train::ModifierState ms;
      ms.kind = m.at("kind").get<std::string>();
      ms.settings = m.at("settings");
      for (const auto& name : m.at("tensors")) ms.tensors[name.get<std::string>()] = at::Tensor();
      s.modifiers.push_back(std::move(ms));
    }
    tensor_file = j.at("modifier_tensors").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError("--resume: '" + f + "' is corrupt (" + e.what() + ")" + fix);
  }
  if (s.finished < 0) throw InputError("--resume: '" + f + "' is corrupt (finished = " + std::to_string(s.finished) + ")" + fix);
  if (!tensor_file.empty()) {
    read_modifier_tensors(file(tensor_file), s.modifiers, fix);
  } else {
    for (auto& m : s.modifiers)
      if (!m.tensors.empty())
        throw InputError("--resume: '" + f + "' is corrupt (the '" + m.kind + "' modifier has tensors but no modifier_tensors file)" + fix);
  }
  return s;
}

}  // namespace mc::pipeline
