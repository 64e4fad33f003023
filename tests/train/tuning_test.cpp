// Process tuning used by the trainer: compute threads (ATen + OpenBLAS) and malloc settings.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "train/memory.h"
#include "train/threads.h"

namespace mc::train {
namespace {

TEST(Tuning, ComputeThreadsSetAtenAndBlas) {
  const int aten_before = at::get_num_threads();
  const int blas_before = blas_threads();
  set_compute_threads(1);
  EXPECT_EQ(at::get_num_threads(), 1);
  if (blas_before > 0) EXPECT_EQ(blas_threads(), 1);  // Debian's LibTorch: OpenBLAS (pthread)
  set_compute_threads(0);                                // ignored
  EXPECT_EQ(at::get_num_threads(), 1);
  set_compute_threads(aten_before);
  EXPECT_EQ(at::get_num_threads(), aten_before);
  if (blas_before > 0) EXPECT_EQ(blas_threads(), aten_before);
}

TEST(Tuning, MallocTuningAppliesOnGlibcUnlessTheUserTunes) {
  const bool user_tuned =
      std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("GLIBC_TUNABLES");
  const bool applied = tune_malloc_for_training();
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MC_ASAN_ALLOCATOR 1  // clang -fsanitize=address: ASan's allocator replaces glibc's; its mallopt does nothing
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MC_ASAN_ALLOCATOR 1  // the same with gcc
#endif
#if defined(MC_ASAN_ALLOCATOR)
  EXPECT_FALSE(applied) << "glibc's malloc is not the allocator under ASan; nothing to tune";
  (void)user_tuned;
#elif defined(__GLIBC__)
  EXPECT_EQ(applied, !user_tuned);
#else
  EXPECT_FALSE(applied);
#endif
  EXPECT_EQ(tune_malloc_for_training(), applied);  // idempotent
}

}  // namespace
}  // namespace mc::train
