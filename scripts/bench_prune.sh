#!/usr/bin/env bash
# Structured pruning pay-off: ONNX Runtime latency of the channel-pruned ResNet-8
# (recipes/resnet8_channels50.yaml: -50% MACs + fine-tune) against the dense model it came from,
# both exported by us, at batch 64 on 2 intra-op threads. The two models are timed interleaved
# REPEATS times (each: 1 warm-up + RUNS timed inferences) and the best median counts (the least
# disturbed by other load). Prints both medians, the speed-up and the two top-1 accuracies.
#
#   scripts/bench_prune.sh BUILD_DIR     env: DENSE=runs/fmnist_resnet8/resnet8_fmnist.mcm
#                                             PRUNED_RUN=runs/resnet8_channels50 BATCH=64 THREADS=2
#                                             RUNS=30 REPEATS=3
# Trains the dense model (as `make demo` does) and runs the pruning recipe first when missing.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
cd "$(dirname "$0")/.."
DENSE=${DENSE:-runs/fmnist_resnet8/resnet8_fmnist.mcm}
PRUNED_RUN=${PRUNED_RUN:-runs/resnet8_channels50}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
RUNS=${RUNS:-30}
REPEATS=${REPEATS:-3}
PY=/usr/bin/python3
ORT="node tests/ort/run_onnx.js"

if [ ! -f "$DENSE" ]; then  # what `make demo` makes (about 5 minutes on 2 cores)
  "$BUILD/compress" --recipe recipes/fmnist_resnet8.yaml --out "$(dirname "$DENSE")" -q
fi
if [ ! -f "$PRUNED_RUN/resnet8_channels50.onnx" ]; then
  "$BUILD/compress" --recipe recipes/resnet8_channels50.yaml --set "model.checkpoint=$(realpath "$DENSE")" \
    --out "$PRUNED_RUN" -q
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BUILD/compress" export "$DENSE" --onnx "$TMP/dense.onnx" >/dev/null
"$PY" -c "import numpy as np; np.save('$TMP/x.npy', np.random.RandomState(0).randn($BATCH, 1, 28, 28).astype('float32'))"

median() { sed -n 's/.*"median_ms":\([0-9.]*\).*/\1/p'; }
best() { printf '%s\n' "$@" | sort -g | head -n1; }
dense=() pruned=()
for ((r = 0; r < REPEATS; r++)); do
  dense+=("$($ORT "$TMP/dense.onnx" --input "$TMP/x.npy" --time "$RUNS" --threads "$THREADS" | median)")
  pruned+=("$($ORT "$PRUNED_RUN/resnet8_channels50.onnx" --input "$TMP/x.npy" --time "$RUNS" --threads "$THREADS" | median)")
done
d=$(best "${dense[@]}") p=$(best "${pruned[@]}")
top1() { "$PY" -c "import json,sys; s=json.load(open('$PRUNED_RUN/report.json'))['stages']; print('%.2f' % (100 * s[$1]['metrics']['top1']))"; }
printf '%-28s %12s %10s\n' model "median ms" "top-1 %"
printf '%-28s %12s %10s\n' "dense resnet8" "$d" "$(top1 0)"
printf '%-28s %12s %10s\n' "pruned (-50% MACs, tuned)" "$p" "$(top1 -1)"
awk -v a="$d" -v b="$p" 'BEGIN { printf "speed-up: %.2fx (ORT, batch '"$BATCH"', '"$THREADS"' threads, best median of '"$REPEATS"' x '"$RUNS"' runs)\n", a / b }'
