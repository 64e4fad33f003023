// Process-wide allocator tuning for training loops.
#pragma once

namespace mc::train {

/// Makes glibc malloc keep and reuse the large blocks that tensors are made of, instead of
/// returning them to the OS after every free (mmap/munmap or heap trimming), which makes every
/// training step fault in its activations afresh: on small CPU models that was up to 3/4 of the
/// step time (resnet8, batch 128: 21k page faults per step). Sets the mmap threshold to 32 MiB and
/// the trim threshold to 256 MiB, so up to that much freed memory stays with the process.
/// Does nothing when the user tunes malloc already (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_
/// or GLIBC_TUNABLES set) or on other C libraries. Idempotent; returns whether it applied the
/// settings (now or before).
bool tune_malloc_for_training();

}  // namespace mc::train
