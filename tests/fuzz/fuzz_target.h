// Fuzz targets: one .cpp per input format, each with one MC_FUZZ_TARGET(name) body.
//
// The same source builds two ways (tests/fuzz/CMakeLists.txt):
//   - with libFuzzer (MC_FUZZ_LIBFUZZER, clang -fsanitize=fuzzer): the body is
//     LLVMFuzzerTestOneInput of the fuzz_<name> binary (`make fuzz`);
//   - without (the normal build): the body registers itself in fuzz_replay, which runs it over every
//     file of tests/fuzz/corpus/<name>/ (ctest fuzz_replay.<name>), so every corpus input, the
//     regression inputs of fixed crashes included, is replayed by every build.
//
// What counts as a bug (docs/architecture.md, "Tests and CI"): expected errors are mc::Error and its
// subclasses (bad input must become an InputError with a message); anything else escaping a
// target is a bug: a crash, an abort, a sanitizer report, a hang, a huge allocation, or any other
// exception (std::out_of_range, c10::Error, YAML::Exception, std::bad_alloc, ...), because the CLI
// would report it as "error: vector::_M_range_check" with exit code 1 instead of saying what is
// wrong with the input. A target that finds a wrong result (e.g. a text that does not round-trip)
// calls mc::fuzz::fail(), which aborts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mc::fuzz {

using TargetFn = int (*)(const uint8_t* data, size_t size);

/// Registers a target for fuzz_replay (used by MC_FUZZ_TARGET; returns true).
bool register_target(const char* name, TargetFn fn);

/// Reports a wrong result found by a target and aborts (a crash for libFuzzer and fuzz_replay).
[[noreturn]] void fail(const std::string& what);

/// Runs `body`; mc::Error (expected: bad input) is swallowed, anything else propagates.
template <typename F>
void expect_errors(F&& body);

/// A per-process scratch directory for targets whose API reads a file (removed at exit).
const std::string& scratch_dir();
/// Writes `bytes` to `scratch_dir()/name` and returns the path.
std::string write_scratch(const std::string& name, const std::string& bytes);

}  // namespace mc::fuzz

#include "common/error.h"

template <typename F>
void mc::fuzz::expect_errors(F&& body) {
  try {
    body();
  } catch (const mc::Error&) {
  }
}

#ifdef MC_FUZZ_LIBFUZZER
#define MC_FUZZ_ENTRY(name)                                                  \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    return mc_fuzz_##name(data, size);                                       \
  }
#else
#define MC_FUZZ_ENTRY(name) \
  static const bool mc_fuzz_registered_##name = mc::fuzz::register_target(#name, &mc_fuzz_##name);
#endif

#define MC_FUZZ_TARGET(name)                                  \
  static int mc_fuzz_##name(const uint8_t* data, size_t size); \
  MC_FUZZ_ENTRY(name)                                          \
  static int mc_fuzz_##name(const uint8_t* data, size_t size)
