// fuzz_replay TARGET DIR: runs fuzz target TARGET over every file in DIR (its corpus), without
// libFuzzer, so the normal build replays every corpus input (ctest fuzz_replay.TARGET). Fails on the
// first input whose run throws anything but mc::Error; a crash or a sanitizer report ends the
// process (the last "input:" line names the file).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz/replay.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  auto& targets = mc::fuzz::targets();
  if (argc != 3 || !targets.count(argv[1])) {
    std::fprintf(stderr, "usage: fuzz_replay TARGET CORPUS_DIR; targets:");
    for (auto& [name, fn] : targets) std::fprintf(stderr, " %s", name.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  std::vector<fs::path> files;
  for (auto& e : fs::recursive_directory_iterator(argv[2]))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no inputs in %s\n", argv[2]);
    return 1;
  }
  mc::fuzz::TargetFn fn = targets.at(argv[1]);
  for (auto& f : files) {
    std::fprintf(stderr, "input: %s\n", f.c_str());
    std::ifstream in(f, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "FAILED: %s: uncaught exception (not mc::Error): %s\n", f.c_str(), e.what());
      return 1;
    }
  }
  std::printf("%s: %zu inputs replayed\n", argv[1], files.size());
  return 0;
}
