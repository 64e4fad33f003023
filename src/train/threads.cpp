#include "train/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

namespace mc::train {

namespace {
// Looked up at run time: nothing links against OpenBLAS directly, and other BLAS builds lack them.
using SetThreads = void (*)(int);
using GetThreads = int (*)();
SetThreads openblas_set() { return reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")); }
GetThreads openblas_get() { return reinterpret_cast<GetThreads>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads")); }
}  // namespace

void set_compute_threads(int n) {
  if (n < 1) return;
  at::set_num_threads(n);
  if (auto set = openblas_set()) set(n);
}

int blas_threads() {
  auto get = openblas_get();
  return get ? get() : 0;
}

}  // namespace mc::train
