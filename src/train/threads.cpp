#include "train/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace mc::train {

namespace {
// Looked up at run time: nothing links against OpenBLAS directly, and other BLAS builds lack them.
using SetThreads = void (*)(int);
using GetThreads = int (*)();
SetThreads openblas_set() { return reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")); }
GetThreads openblas_get() { return reinterpret_cast<GetThreads>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads")); }

constexpr const char* kWaitPolicy = "OMP_WAIT_POLICY";
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

// Why an exec of the passive policy, and not the other fixes measured (docs/architecture.md,
// "Compute threads"): setenv() in main() is too late (libgomp parsed the environment when it was
// loaded: omp_display_env shows GOMP_SPINCOUNT still 300000); PASSIVE was 4.7x (vit_tiny) and 5.8x
// (resnet8) faster than the default under load and 2.2x on vit_tiny idle; OpenBLAS at one thread
// helped vit_tiny further but cost resnet8 12 %, and the OpenMP build of OpenBLAS gained nothing
// over that while changing the system's BLAS alternative.
void reexec_with_passive_omp_wait(char** argv) {
  if (std::getenv(kWaitPolicy) || std::getenv("GOMP_SPINCOUNT")) return;
  if (::setenv(kWaitPolicy, "PASSIVE", 1) != 0) return;
  ::execv("/proc/self/exe", argv);  // returns only on failure (no /proc): go on as we are
  ::unsetenv(kWaitPolicy);
}

std::string startup_omp_wait_policy() {
  std::ifstream f("/proc/self/environ", std::ios::binary);
  const std::string env((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string key = std::string(kWaitPolicy) + "=";
  for (size_t pos = 0; pos < env.size();) {
    size_t end = env.find('\0', pos);
    if (end == std::string::npos) end = env.size();
    if (env.compare(pos, key.size(), key) == 0) return env.substr(pos + key.size(), end - pos - key.size());
    pos = end + 1;
  }
  return "";
}

}  // namespace mc::train
