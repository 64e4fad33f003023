// Compute threads: ATen's intra-op threads (OpenMP), the BLAS library's own threads, and how the
// OpenMP threads wait between parallel regions.
#pragma once

#include <string>

namespace mc::train {

/// at::set_num_threads(n), and the same for OpenBLAS when torch uses it (Debian's LibTorch calls
/// the pthread build of OpenBLAS, whose thread pool ignores ATen's setting and otherwise uses one
/// thread per core, on top of the OpenMP threads). n must be >= 1.
void set_compute_threads(int n);

/// OpenBLAS's thread count, or 0 when OpenBLAS is not loaded.
int blas_threads();

/// Makes libgomp's idle threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE). By default an
/// OpenMP thread that finishes a parallel region spins for GOMP_SPINCOUNT (300000) iterations before
/// it sleeps; on a machine with as many cores as threads that spinning takes the cores from
/// OpenBLAS's own pthreads (and from every other process), which then wait for their time slice
/// (docs/architecture.md, "Compute threads", has the measurements). libgomp reads the variable
/// once, when it is loaded, before main() runs, so setting it from main() has no effect: when
/// neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, this re-executes /proc/self/exe with the same
/// argv and environment plus OMP_WAIT_POLICY=PASSIVE (same process id, open files and working
/// directory). Call it first thing in main(). Returns when it did nothing: either variable was set
/// (the user's choice, or the re-executed process), or the exec failed (the process goes on with
/// libgomp's default).
void reexec_with_passive_omp_wait(char** argv);

/// OMP_WAIT_POLICY as the process found it at start-up (/proc/self/environ: what libgomp read when
/// it was loaded, not what setenv() changed later), or "" when it was unset or cannot be read.
std::string startup_omp_wait_policy();

}  // namespace mc::train
