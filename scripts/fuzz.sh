#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets (tests/fuzz/) with clang, ASan and UBSan (in the build
# directory make test-sanitize uses, scripts/sanitizer_env.sh) and runs each one from its seed
# corpus for FUZZ_SECONDS.
#
#   FUZZ_SECONDS=600 FUZZ_TARGETS="recipe npy" FUZZ_PARALLEL=1 bash scripts/fuzz.sh [BUILD_DIR]
#
# Each target starts from a scratch copy of tests/fuzz/corpus/<target>/ (the committed corpus is
# never written). Per target it prints the executions, the coverage (libFuzzer's cov: edges and
# ft: features) and whether it found a crash; a crash, sanitizer report, uncaught non-mc::Error
# exception, timeout (> FUZZ_TIMEOUT s for one input) or out-of-memory (> FUZZ_RSS_MB) leaves its
# input in BUILD_DIR/fuzz-artifacts/<target>/ and makes the script exit 1. To keep a found input as
# a regression input: fix the bug, copy the file into tests/fuzz/corpus/<target>/ (ctest
# fuzz_replay.<target> replays it in every build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-build-sanitize}"
seconds="${FUZZ_SECONDS:-600}"
targets=(${FUZZ_TARGETS:-recipe npy ir_text mcm onnx_trt})
parallel="${FUZZ_PARALLEL:-1}"
jobs="${JOBS:-2}"
cd "$root"
source scripts/sanitizer_env.sh
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

configure_sanitize_build "$build"
nice -n 10 cmake --build "$build" -j"$jobs" --target $(printf "fuzz_%s " "${targets[@]}")

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
run_target() {
  local t="$1" art="$build/fuzz-artifacts/$1"
  mkdir -p "$scratch/$t" "$art"
  cp -r "tests/fuzz/corpus/$t/." "$scratch/$t/"
  # -timeout: one input running longer is a hang; -rss_limit_mb / -malloc_limit_mb: LibTorch and
  # ASan take ~1 GB, an input that makes us allocate beyond the limits is a huge-allocation bug.
  local rc=0
  nice -n 10 "$build/tests/fuzz/fuzz_$t" "$scratch/$t" -max_total_time="$seconds" \
    -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb="${FUZZ_RSS_MB:-4096}" -malloc_limit_mb="${FUZZ_MALLOC_MB:-2048}" \
    -artifact_prefix="$art/" -print_final_stats=1 > "$build/fuzz-$t.log" 2>&1 || rc=$?
  echo "$rc" > "$build/fuzz-$t.rc"
}

echo "fuzzing ${targets[*]} for ${seconds}s each, $parallel at a time (logs: $build/fuzz-TARGET.log)"
running=0
for t in "${targets[@]}"; do
  rm -f "$build/fuzz-$t.rc" "$build/fuzz-artifacts/$t"/* 2>/dev/null || true
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true

status=0
printf "%-10s %12s %8s %8s %8s  %s\n" target execs exec/s cov ft result
for t in "${targets[@]}"; do
  log="$build/fuzz-$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | awk '{print $2}')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | awk '{print $2}')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  rc=$(cat "$build/fuzz-$t.rc" 2>/dev/null || echo "?")
  found=$(ls "$build/fuzz-artifacts/$t" 2>/dev/null | head -3 | tr '\n' ' ')
  if [ "$rc" = 0 ] && [ -z "$found" ]; then result="no crash"
  else result="CRASH (rc $rc): $found see $log"; status=1; fi
  printf "%-10s %12s %8s %8s %8s  %s\n" "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $status
