// Test-only LD_PRELOAD library: kills the process with SIGKILL at a chosen point of a real
// `compress` run, so the kill-and-resume tests stop it exactly there (no clean exit, no atexit,
// no flush), deterministically. It is never linked into the product.
//
//   MC_KILL_AT_RENAME=<suffix>  SIGKILL right after the MC_KILL_COUNT-th (default 1) successful
//                               rename() onto a path ending in <suffix> (every file of the run
//                               directory is committed by a rename: checkpoints, state.json)
//   MC_KILL_AT_OUTPUT=<text>    SIGKILL when fwrite() is about to write a buffer containing <text>
//                               (a log line, e.g. "finetune epoch 1/2")
//   MC_KILL_RANK=<k>            only in the process whose RANK variable is <k> (one worker of a
//                               data-parallel run; the launcher and the other ranks run on)
#include <dlfcn.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool ends_with(const char* s, const char* suffix) {
  const size_t n = std::strlen(s), m = std::strlen(suffix);
  return n >= m && std::strcmp(s + n - m, suffix) == 0;
}

// MC_KILL_RANK unset, or equal to this process's RANK.
bool this_rank() {
  static const bool mine = [] {
    const char* want = std::getenv("MC_KILL_RANK");
    const char* rank = std::getenv("RANK");
    return !want || (rank && std::strcmp(want, rank) == 0);
  }();
  return mine;
}

int renames_left() {
  static int left = [] {
    const char* c = std::getenv("MC_KILL_COUNT");
    return c ? std::atoi(c) : 1;
  }();
  return --left;
}

}  // namespace

extern "C" int rename(const char* from, const char* to) {
  using Fn = int (*)(const char*, const char*);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "rename"));
  const int rc = real(from, to);
  const char* suffix = std::getenv("MC_KILL_AT_RENAME");
  if (rc == 0 && suffix && this_rank() && ends_with(to, suffix) && renames_left() == 0) std::raise(SIGKILL);
  return rc;
}

extern "C" size_t fwrite(const void* data, size_t size, size_t count, FILE* f) {
  using Fn = size_t (*)(const void*, size_t, size_t, FILE*);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "fwrite"));
  const char* text = std::getenv("MC_KILL_AT_OUTPUT");
  if (text && *text && this_rank() && memmem(data, size * count, text, std::strlen(text))) std::raise(SIGKILL);
  return real(data, size, count, f);
}
