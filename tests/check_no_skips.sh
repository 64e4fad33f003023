#!/usr/bin/env bash
# ctest `tests.no_skips`: a skipped test passes without testing anything. `make test` installs every
# oracle (PyTorch and NumPy for /usr/bin/python3, ONNX Runtime for node: `make deps`), so a missing
# one must FAIL the test (test::python_oracle, test::run_ort), never GTEST_SKIP it; a DISABLED_ test
# never runs at all. ALLOWED holds "path: reason" for a skip that is genuinely right (none today).
#
#   tests/check_no_skips.sh TESTS_DIR
set -euo pipefail
dir=${1:?usage: check_no_skips.sh TESTS_DIR}
ALLOWED=()  # e.g. "gpu/cuda_test.cpp: needs a GPU, which the CI machines lack"

hits=$(grep -rnE 'GTEST_SKIP|\bDISABLED_' --include='*.cpp' --include='*.h' "$dir" || true)
for entry in "${ALLOWED[@]}"; do
  hits=$(grep -v "^$dir/${entry%%:*}:" <<<"$hits" || true)
done
if [ -n "$hits" ]; then
  echo "check_no_skips: tests that can pass without testing (a missing oracle must fail the test, see"
  echo "test::python_oracle in tests/support/test_env.h; a genuine skip goes into ALLOWED with its reason):"
  echo "$hits"
  exit 1
fi
echo "check_no_skips: no skipped or disabled tests under $dir"
