#!/usr/bin/env bash
# Structured pruning pay-off: ONNX Runtime latency of the pruned ResNet-8s against the dense model
# they came from, all exported by us, at batch 64 on 2 intra-op threads:
#   channels: recipes/resnet8_channels50.yaml (-50% MACs by channels + 3-epoch fine-tune)
#   depth:    recipes/resnet8_depth_channels.yaml (block layer1.0 removed + layer3's inner channels
#             halved, -53% MACs, 3-epoch distilled fine-tune)
# The models are timed interleaved REPEATS times (each: 1 warm-up + RUNS timed inferences) and the
# best median counts (the least disturbed by other load). Prints the medians, the speed-ups and the
# top-1 accuracies: our executor's (the recipe's report) and ONNX Runtime's on the exported model
# (10k test set).
#
#   scripts/bench_prune.sh BUILD_DIR     env: DENSE=runs/fmnist_resnet8/resnet8_fmnist.mcm
#                                             PRUNED_RUN=runs/resnet8_channels50
#                                             DEPTH_RUN=runs/resnet8_depth_channels BATCH=64 THREADS=2
#                                             RUNS=30 REPEATS=3
# Trains the dense model (recipes/fmnist_resnet8.yaml) and runs the pruning recipe first when
# missing.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
cd "$(dirname "$0")/.."
DENSE=${DENSE:-runs/fmnist_resnet8/resnet8_fmnist.mcm}
PRUNED_RUN=${PRUNED_RUN:-runs/resnet8_channels50}
DEPTH_RUN=${DEPTH_RUN:-runs/resnet8_depth_channels}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
RUNS=${RUNS:-30}
REPEATS=${REPEATS:-3}
PY=/usr/bin/python3
ORT="node tests/ort/run_onnx.js"

. scripts/bench_common.sh
ensure_dense "$BUILD" "$DENSE"
ensure_run "$BUILD" recipes/resnet8_channels50.yaml "$DENSE" "$PRUNED_RUN" resnet8_channels50.onnx
ensure_run "$BUILD" recipes/resnet8_depth_channels.yaml "$DENSE" "$DEPTH_RUN" resnet8_depth_channels.onnx
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BUILD/compress" export "$DENSE" --onnx "$TMP/dense.onnx" >/dev/null
"$PY" scripts/bench_int8_data.py testset "$TMP" "$BATCH"  # x.npy, y.npy: 10k test set; xb.npy: a batch

median() { sed -n 's/.*"median_ms":\([0-9.]*\).*/\1/p'; }
best() { printf '%s\n' "$@" | sort -g | head -n1; }
dense=() pruned=() depth=()
for ((r = 0; r < REPEATS; r++)); do
  dense+=("$($ORT "$TMP/dense.onnx" --input "$TMP/xb.npy" --time "$RUNS" --threads "$THREADS" | median)")
  pruned+=("$($ORT "$PRUNED_RUN/resnet8_channels50.onnx" --input "$TMP/xb.npy" --time "$RUNS" --threads "$THREADS" | median)")
  depth+=("$($ORT "$DEPTH_RUN/resnet8_depth_channels.onnx" --input "$TMP/xb.npy" --time "$RUNS" --threads "$THREADS" | median)")
done
d=$(best "${dense[@]}") p=$(best "${pruned[@]}") q=$(best "${depth[@]}")
top1() { "$PY" -c "import json,sys; s=json.load(open('$1/report.json'))['stages']; print('%.2f' % (100 * s[$2]['metrics']['top1']))"; }
ort_top1() {
  $ORT "$1" --input "$TMP/x.npy" --output "$TMP/logits.npy" --threads "$THREADS" >/dev/null
  "$PY" scripts/bench_int8_data.py top1 "$TMP/logits.npy" "$TMP/y.npy"
}
macs() { "$PY" -c "import json,sys; s=json.load(open('$1/report.json'))['stages']; print('%.1f%%' % (100 * (1 - s[-1]['metrics']['macs'] / s[0]['metrics']['macs'])))"; }
printf '%-34s %12s %10s %10s %10s %9s\n' model "median ms" "top-1 %" "ORT top-1" "MACs" speed-up
printf '%-34s %12s %10s %10s %10s %9s\n' "dense resnet8" "$d" "$(top1 "$PRUNED_RUN" 0)" "$(ort_top1 "$TMP/dense.onnx")" "" ""
printf '%-34s %12s %10s %10s %10s %9s\n' "channels (resnet8_channels50)" "$p" "$(top1 "$PRUNED_RUN" -1)" \
  "$(ort_top1 "$PRUNED_RUN/resnet8_channels50.onnx")" "-$(macs "$PRUNED_RUN")" "$(awk -v a="$d" -v b="$p" 'BEGIN { printf "%.2fx", a / b }')"
printf '%-34s %12s %10s %10s %10s %9s\n' "depth (resnet8_depth_channels)" "$q" "$(top1 "$DEPTH_RUN" -1)" \
  "$(ort_top1 "$DEPTH_RUN/resnet8_depth_channels.onnx")" "-$(macs "$DEPTH_RUN")" "$(awk -v a="$d" -v b="$q" 'BEGIN { printf "%.2fx", a / b }')"
echo "(ORT, batch $BATCH, $THREADS threads, best median of $REPEATS x $RUNS runs, interleaved)"
