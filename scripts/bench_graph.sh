#!/usr/bin/env bash
# Graph-size scaling: `compress export` (TorchScript import -> optimize -> ONNX export and check) of a
# chain of residual linear blocks (scripts/bench_graph.py, ~7 IR nodes per block: 2900 blocks make
# ~20k nodes) and of one half its size. Linear costs give a ratio near 2 between the two; a graph
# primitive or pass that walks the graph per node shows as a ratio towards 4. Best of REPEATS runs.
# The models are traced once by /usr/bin/python3 into BUILD_DIR/bench_graph/ (about a minute each).
#
#   scripts/bench_graph.sh BUILD_DIR            env: BLOCKS=2900 REPEATS=3
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
BLOCKS=${BLOCKS:-2900}
REPEATS=${REPEATS:-3}
PY=/usr/bin/python3
BIN="$BUILD/compress"
DIR="$BUILD/bench_graph"

if [ ! -x "$BIN" ]; then
  echo "bench_graph.sh: $BIN not found: build it first (cmake --build $BUILD --target compress)" >&2
  exit 2
fi
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "bench_graph.sh: $PY cannot import torch (install python3-torch: make deps)" >&2
  exit 2
fi
mkdir -p "$DIR"

# Seconds of the best of REPEATS runs of `compress export MODEL [FLAGS]`.
best_seconds() {
  local model=$1 best="" t
  shift
  for ((r = 0; r < REPEATS; r++)); do
    local start end
    start=$(date +%s.%N)
    "$BIN" -q export "$model" --input-shape 1,16 --onnx "$DIR/out.onnx" "$@" >/dev/null
    end=$(date +%s.%N)
    t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  echo "$best"
}

printf '%-8s %12s %14s %14s\n' blocks nodes "export (s)" "--no-optimize"
declare -A full
for b in $((BLOCKS / 2)) "$BLOCKS"; do
  model="$DIR/chain_$b.pt"
  [ -f "$model" ] || "$PY" "$HERE/bench_graph.py" "$model" "$b"
  nodes=$("$BIN" -v export "$model" --input-shape 1,16 --onnx "$DIR/out.onnx" 2>&1 |
    sed -n 's/.*, nodes \([0-9]*\) -> \([0-9]*\).*/\1->\2/p' | head -n1)
  full[$b]=$(best_seconds "$model")
  printf '%-8s %12s %14s %14s\n' "$b" "${nodes:-?}" "${full[$b]}" "$(best_seconds "$model" --no-optimize)"
done
awk -v a="${full[$((BLOCKS / 2))]}" -v b="${full[$BLOCKS]}" \
  'BEGIN { printf "(wall time of the whole command, process start and TorchScript load included, best of '"$REPEATS"';\n ratio %d -> %d blocks: %.2fx; linear ~2x, quadratic ~4x)\n", '"$((BLOCKS / 2))"', '"$BLOCKS"', (a > 0 ? b / a : 0) }'
