#!/usr/bin/env bash
# make test-sanitize: the fast tests (ctest -LE slow) in a build of our code with AddressSanitizer
# and UndefinedBehaviorSanitizer (clang; a build directory of its own, shared with make fuzz:
# scripts/sanitizer_env.sh). Prints the build and test time.
#
#   JOBS=2 CTEST_ARGS="-R test_ir" bash scripts/test_sanitize.sh [BUILD_DIR]
#
# LibTorch and the other libraries are not instrumented; scripts/sanitizer_env.sh holds the
# run-time options (and why each check that is off is off). Any report fails the test it occurs in.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-build-sanitize}"
jobs="${JOBS:-2}"
cd "$root"
source scripts/sanitizer_env.sh

configure_sanitize_build "$build"
t0=$(date +%s)
nice -n 10 cmake --build "$build" -j"$jobs"
t1=$(date +%s)
status=0
(cd "$build" && ctest --output-on-failure -j"${CTEST_JOBS:-$jobs}" -LE slow ${CTEST_ARGS:-}) || status=$?
t2=$(date +%s)
echo "test-sanitize: build $((t1 - t0)) s (-j$jobs), tests $((t2 - t1)) s; $( [ $status = 0 ] && echo clean || echo FAILED)"
exit $status
