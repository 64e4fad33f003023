// Compute thread count for training: ATen's intra-op threads and the BLAS library's own threads.
#pragma once

namespace mc::train {

/// at::set_num_threads(n), and the same for OpenBLAS when torch uses it (Debian's LibTorch calls
/// the pthread build of OpenBLAS, whose thread pool ignores ATen's setting and otherwise uses one
/// thread per core, on top of the OpenMP threads). n must be >= 1.
void set_compute_threads(int n);

/// OpenBLAS's thread count, or 0 when OpenBLAS is not loaded.
int blas_threads();

}  // namespace mc::train
