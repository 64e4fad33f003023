# Sourced by the training benches (scripts/bench.sh, scripts/bench_train_transformer.sh): the checks
# both make before timing, and the thread policy both sides run under.
#   require_train_bench SCRIPT_NAME BENCH PY   exit 2 naming what is missing
#   passive_omp                                OMP_WAIT_POLICY=PASSIVE unless the user set a policy

require_train_bench() {
  local name=$1 bench=$2 py=$3
  if [ ! -x "$bench" ]; then
    echo "$name: $bench not found: build it first (cmake --build $(dirname "$bench") --target train_bench)" >&2
    exit 2
  fi
  if ! "$py" -c 'import torch' 2>/dev/null; then
    echo "$name: $py cannot import torch (install python3-torch)" >&2
    exit 2
  fi
}

# train_bench runs under the OpenMP wait policy compress gives itself (src/train/threads.h); the
# PyTorch loop gets the same, so that the ratio compares the trainers, not the policies.
passive_omp() {
  if [ -z "${OMP_WAIT_POLICY:-}" ] && [ -z "${GOMP_SPINCOUNT:-}" ]; then export OMP_WAIT_POLICY=PASSIVE; fi
}
