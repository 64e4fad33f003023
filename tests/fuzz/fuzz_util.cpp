// Shared pieces of the fuzz targets: the replay registry, fail(), the scratch directory.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "fuzz/fuzz_target.h"
#include "fuzz/replay.h"

namespace mc::fuzz {
namespace fs = std::filesystem;

std::map<std::string, TargetFn>& targets() {
  static std::map<std::string, TargetFn> t;
  return t;
}

bool register_target(const char* name, TargetFn fn) {
  targets()[name] = fn;
  return true;
}

void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz target found a wrong result: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

namespace {
struct Scratch {
  std::string dir;
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "mc_fuzz_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) fail("cannot create a scratch directory under " + fs::temp_directory_path().string());
    dir = tmpl;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};
}  // namespace

const std::string& scratch_dir() {
  static Scratch s;
  return s.dir;
}

std::string write_scratch(const std::string& name, const std::string& bytes) {
  std::string path = (fs::path(scratch_dir()) / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) fail("cannot write " + path);
  return path;
}

}  // namespace mc::fuzz
