#!/usr/bin/env bash
# What `compress auto` found against the hand-written recipes: ONNX Runtime latency at batch 64 on
# 2 intra-op threads of
#   dense: the trained ResNet-8 (`make demo`'s, recipes/resnet8_demo_train.yaml), exported by us
#   depth: recipes/resnet8_depth_channels.yaml (block + channel pruning, 3-epoch distilled fine-tune)
#   int8:  recipes/fmnist_resnet8_ptq.yaml (INT8 post-training quantization), exported as QDQ
#   auto:  the best of an `auto` search directory (best.onnx; default runs/resnet8_auto from
#          recipes/resnet8_auto.yaml)
# timed interleaved REPEATS times (each: 3 warm-up + RUNS timed inferences, share/ort_eval.js
# --latency, ONNX Runtime's default session options) and the best median counts (the least disturbed
# by other load). Prints the medians, speed-ups over dense and the top-1 on the 10k test set
# (ONNX Runtime's on the export where the run measured it, else ours).
#
#   scripts/bench_auto.sh BUILD_DIR   env: DENSE=runs/resnet8_demo_train/resnet8_demo_train.mcm SEARCH=runs/resnet8_auto
#                                          DEPTH_RUN=runs/bench_auto/depth_channels PTQ_RUN=runs/bench_auto/ptq
#                                          BATCH=64 THREADS=2 RUNS=30 REPEATS=3
# Runs the two hand recipes first when their runs are missing; the search must have run.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
cd "$(dirname "$0")/.."
DENSE=${DENSE:-runs/resnet8_demo_train/resnet8_demo_train.mcm}
SEARCH=${SEARCH:-runs/resnet8_auto}
DEPTH_RUN=${DEPTH_RUN:-runs/bench_auto/depth_channels}
PTQ_RUN=${PTQ_RUN:-runs/bench_auto/ptq}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
RUNS=${RUNS:-30}
REPEATS=${REPEATS:-3}
PY=/usr/bin/python3
MODULES=${MC_ORT_NODE_MODULES:-tests/ort/node_modules}

[ -f "$SEARCH/best.onnx" ] || { echo "no $SEARCH/best.onnx: run compress auto recipes/resnet8_auto.yaml first" >&2; exit 2; }
. scripts/bench_common.sh
ensure_run "$BUILD" recipes/resnet8_depth_channels.yaml "$DENSE" "$DEPTH_RUN" resnet8_depth_channels.onnx
ensure_run "$BUILD" recipes/fmnist_resnet8_ptq.yaml "$DENSE" "$PTQ_RUN" report.json
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BUILD/compress" export "$DENSE" --onnx "$TMP/dense.onnx" >/dev/null
"$BUILD/compress" export "$(ls "$PTQ_RUN"/ckpt/*quantize.mcm | tail -n1)" --onnx "$TMP/int8.onnx" >/dev/null

time_ms() {
  node share/ort_eval.js "$1" --latency "$BATCH" --runs "$RUNS" --threads "$THREADS" --modules "$MODULES" |
    sed -n 's/.*"median_ms":\([0-9.]*\).*/\1/p' | awk '{ printf "%.2f\n", $1 }'
}
best() { printf '%s\n' "$@" | sort -g | head -n1; }
dense=() depth=() int8=() auto=()
for ((r = 0; r < REPEATS; r++)); do
  dense+=("$(time_ms "$TMP/dense.onnx")")
  depth+=("$(time_ms "$DEPTH_RUN/resnet8_depth_channels.onnx")")
  int8+=("$(time_ms "$TMP/int8.onnx")")
  auto+=("$(time_ms "$SEARCH/best.onnx")")
done
d=$(best "${dense[@]}") p=$(best "${depth[@]}") q=$(best "${int8[@]}") a=$(best "${auto[@]}")
# top-1 of a run's last stage: ONNX Runtime's on its export when measured, else ours
top1() {
  "$PY" -c "
import json
s = json.load(open('$1/report.json'))['stages']
e = [x for x in s if x['stage'] == 'export' and x['details'].get('ort_eval', {}).get('status') == 'done']
print('%.2f' % (100 * (e[-1]['details']['ort_eval']['top1_ort'] if e else s[-1]['metrics']['top1'])))"
}
auto_top1=$("$PY" -c "import json; print('%.2f' % (100 * json.load(open('$SEARCH/best.json'))['top1']))")
dense_top1=$("$PY" -c "import json; print('%.2f' % (100 * json.load(open('$SEARCH/pareto.json'))['baseline']['top1']))")
ratio() { awk -v a="$d" -v b="$1" 'BEGIN { printf "%.2fx", a / b }'; }
printf '%-40s %12s %10s %9s\n' model "median ms" "top-1 %" speed-up
printf '%-40s %12s %10s %9s\n' "dense resnet8" "$d" "$dense_top1" ""
printf '%-40s %12s %10s %9s\n' "depth + channels (hand recipe)" "$p" "$(top1 "$DEPTH_RUN")" "$(ratio "$p")"
printf '%-40s %12s %10s %9s\n' "INT8 PTQ (hand recipe)" "$q" "$(top1 "$PTQ_RUN")" "$(ratio "$q")"
printf '%-40s %12s %10s %9s\n' "auto best ($SEARCH)" "$a" "$auto_top1" "$(ratio "$a")"
echo "(ORT, batch $BATCH, $THREADS threads, best median of $REPEATS x $RUNS runs, interleaved; load: $(cut -d' ' -f1-3 /proc/loadavg))"
