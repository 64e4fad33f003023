# Sourced by the benches (scripts/bench*.sh): the checks the training benches make before timing,
# the thread policy both sides run under, and the runs the ONNX Runtime benches start from.
#   require_train_bench SCRIPT_NAME BENCH PY   exit 2 naming what is missing
#   passive_omp                                OMP_WAIT_POLICY=PASSIVE unless the user set a policy
#   ensure_dense BUILD DENSE                   trains recipes/fmnist_resnet8.yaml into DENSE's folder
#                                              unless DENSE exists (about 10 minutes on 2 cores)
#   ensure_run BUILD RECIPE DENSE OUT FILE     runs RECIPE from the checkpoint DENSE into OUT unless
#                                              OUT/FILE exists

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

ensure_dense() {
  local build=$1 dense=$2
  [ -f "$dense" ] || "$build/compress" --recipe recipes/fmnist_resnet8.yaml --out "$(dirname "$dense")" -q
}

ensure_run() {
  local build=$1 recipe=$2 dense=$3 out=$4 file=$5
  [ -f "$out/$file" ] ||
    "$build/compress" --recipe "$recipe" --set "model.checkpoint=$(realpath "$dense")" --out "$out" -q
}
