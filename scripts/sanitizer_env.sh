# Sourced by scripts/fuzz.sh and scripts/test_sanitize.sh: the sanitizer build they share and the
# sanitizer run-time options.
# Our code is instrumented (-fsanitize=address,undefined); LibTorch, OpenBLAS, OpenCV, protobuf,
# yaml-cpp and libstdc++ are the Debian builds, not instrumented. Each option below that turns a
# check off says which false positive it avoids; none of them hides a report in our own code.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
asan=(
  # Stop at the first report with a stack trace and abort: the test (or fuzz input) fails.
  abort_on_error=1
  halt_on_error=1
  # Not needed with libstdc++: detect_container_overflow=0, the usual switch for partly instrumented
  # programs. libstdc++ annotates std::vector for ASan only under -D_GLIBCXX_SANITIZE_VECTOR, which
  # we do not set, so LibTorch growing a vector our code reads cannot cause a false report.
)
export ASAN_OPTIONS="$(IFS=:; echo "${asan[*]}")${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# configure_sanitize_build DIR: our code with ASan + UBSan and libFuzzer's coverage counters (clang).
# `make test-sanitize` and `make fuzz` share this one build: compiling the tree under ASan is the
# expensive part (measured in docs/architecture.md, "Tests and CI"), and the coverage counters only
# cost the tests a little time (without libFuzzer linked, their callbacks are the sanitizer
# runtime's no-ops). -O1: the usual level for sanitizer builds; line tables for the reports' stack
# traces; no NDEBUG.
configure_sanitize_build() {
  mkdir -p "$1"
  cmake -S "$here/.." -B "$1" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DMC_SANITIZE=address,undefined -DMC_FUZZ=ON \
    > "$1/configure.log" 2>&1 || { cat "$1/configure.log"; return 1; }
}
