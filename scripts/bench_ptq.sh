#!/usr/bin/env bash
# Post-training INT8 quantization: our `quantize` stage (recipes/fmnist_resnet8_ptq.yaml: min-max
# calibration on 1024 training images) against PyTorch FX PTQ (scripts/bench_ptq.py: prepare_fx with
# the default x86 qconfig, calibration on the same 1024 images, convert_fx) on the same trained
# resnet8 checkpoint, both evaluated on the Fashion-MNIST test set. Times calibration+quantization
# (ours: the stage's reported seconds, BN folding, placement, calibration and insertion included;
# PyTorch's: prepare_fx + calibration + convert_fx), best of REPEATS, and prints the ratio.
#
#   scripts/bench_ptq.sh BUILD_DIR [MODEL.mcm]    env: REPEATS=3 THREADS=2 LIMIT=0 (test images, 0 = 10k)
# MODEL defaults to runs/fmnist_resnet8/resnet8_fmnist.mcm (what recipes/fmnist_resnet8.yaml makes),
# else the test fixture BUILD_DIR/fixtures/resnet8_fmnist/resnet8_fmnist.mcm (2 epochs).
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-2}
LIMIT=${LIMIT:-0}
PY=/usr/bin/python3
MODEL=${2:-}
if [ -z "$MODEL" ]; then
  for m in "$ROOT/runs/fmnist_resnet8/resnet8_fmnist.mcm" "$BUILD/fixtures/resnet8_fmnist/resnet8_fmnist.mcm"; do
    if [ -f "$m" ]; then MODEL=$m; break; fi
  done
fi
if [ -z "$MODEL" ] || [ ! -f "$MODEL" ]; then
  echo "bench_ptq.sh: no trained resnet8 checkpoint: make one with" >&2
  echo "  $BUILD/compress --recipe recipes/fmnist_resnet8.yaml --out runs/fmnist_resnet8" >&2
  exit 2
fi
if [ ! -x "$BUILD/compress" ]; then
  echo "bench_ptq.sh: $BUILD/compress not found: build it first (cmake --build $BUILD --target compress)" >&2
  exit 2
fi
MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

json() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
best() { printf '%s\n' "$@" | sort -g | head -n1; }

ours=() theirs=()
for ((r = 0; r < REPEATS; r++)); do
  "$BUILD/compress" --recipe "$ROOT/recipes/fmnist_resnet8_ptq.yaml" --set "model.checkpoint=$MODEL" \
    --set "data.val.limit=$LIMIT" --set "threads=$THREADS" --set "report.latency=false" --out "$OUT/run$r" -q
  ours+=("$(json "$OUT/run$r/report.json" "d['stages'][1]['details']['seconds']")")
  "$PY" "$HERE/bench_ptq.py" "$MODEL" --calib 1024 --threads "$THREADS" --limit "$LIMIT" 2>/dev/null >"$OUT/py$r.json"
  theirs+=("$(json "$OUT/py$r.json" "d['seconds']")")
done
fp=$(json "$OUT/run0/report.json" "round(d['stages'][0]['metrics']['top1'] * 100, 2)")
q8=$(json "$OUT/run0/report.json" "round(d['stages'][1]['metrics']['top1'] * 100, 2)")
pfp=$(json "$OUT/py0.json" "round(d['fp32_top1'] * 100, 2)")
pq8=$(json "$OUT/py0.json" "round(d['int8_top1'] * 100, 2)")
o=$(best "${ours[@]}") t=$(best "${theirs[@]}")
printf '%-22s %10s %10s %9s %12s\n' "PTQ int8 (resnet8)" "fp32 top1" "int8 top1" "drop pt" "calib+quant s"
printf '%-22s %10s %10s %9s %12.3f\n' ours "$fp" "$q8" "$(awk -v a="$fp" -v b="$q8" 'BEGIN{printf "%.2f", a-b}')" "$o"
printf '%-22s %10s %10s %9s %12.3f\n' "pytorch fx (x86)" "$pfp" "$pq8" "$(awk -v a="$pfp" -v b="$pq8" 'BEGIN{printf "%.2f", a-b}')" "$t"
echo "time ratio ours/pytorch: $(awk -v a="$o" -v b="$t" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}') (best of $REPEATS, $THREADS threads, 1024 calibration images; model $MODEL)"
