#include "train/memory.h"

#include <cstdlib>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mc::train {

bool tune_malloc_for_training() {
#if defined(__GLIBC__)
  static std::once_flag once;
  static bool applied = false;
  std::call_once(once, [] {
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("GLIBC_TUNABLES"))
      return;
    // 32 MiB is glibc's largest mmap threshold on 64-bit; larger blocks are still mmapped.
    applied = ::mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
    applied = (::mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1) && applied;
  });
  return applied;
#else
  return false;
#endif
}

}  // namespace mc::train
