#!/usr/bin/env bash
# INT8 QDQ export against fp32 in ONNX Runtime, on the trained Fashion-MNIST ResNet-8:
#   1. fp32 ONNX: `compress export MODEL`
#   2. INT8 QDQ ONNX: PTQ (configs/tensorrt_int8.yaml: quantize, export, check_tensorrt) on MODEL;
#      the run's report gives our executor's fake-quant top-1 on the 10k test set
#   3. ORT latency of both at batch 64 on THREADS threads (run_onnx.js --time, level all), interleaved,
#      best median of REPEATS; prints the fp32/int8 latency ratio
#   4. top-1 of the INT8 ONNX in ORT on the 10k test set (scripts/bench_int8_data.py, numpy) vs ours
#
#   scripts/bench_int8.sh BUILD_DIR     env: MODEL=... (default runs/fmnist_resnet8/resnet8_fmnist.mcm,
#                                            else BUILD_DIR/fixtures/resnet8_fmnist/resnet8_fmnist.mcm)
#                                            THREADS=2 BATCH=64 RUNS=50 REPEATS=3
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
THREADS=${THREADS:-2}
BATCH=${BATCH:-64}
RUNS=${RUNS:-50}
REPEATS=${REPEATS:-3}
PY=/usr/bin/python3
ORT="node $ROOT/tests/ort/run_onnx.js"
COMPRESS="$BUILD/compress"

if [ -z "${MODEL:-}" ]; then
  MODEL=$ROOT/runs/fmnist_resnet8/resnet8_fmnist.mcm
  [ -f "$MODEL" ] || MODEL=/work/runs/fmnist_resnet8/resnet8_fmnist.mcm
  [ -f "$MODEL" ] || MODEL=$BUILD/fixtures/resnet8_fmnist/resnet8_fmnist.mcm
fi
if [ ! -f "$MODEL" ]; then
  echo "bench_int8.sh: no trained model: run \`$COMPRESS --recipe recipes/fmnist_resnet8.yaml --out runs/fmnist_resnet8\` or give MODEL=" >&2
  exit 2
fi
if [ ! -x "$COMPRESS" ]; then echo "bench_int8.sh: $COMPRESS not found: build it first" >&2; exit 2; fi
if [ ! -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ]; then
  echo "bench_int8.sh: onnxruntime-node missing: cd tests/ort && npm install --ignore-scripts" >&2; exit 2
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" "$HERE/bench_int8_data.py" testset "$TMP"

"$COMPRESS" -q export "$MODEL" --onnx "$TMP/fp32.onnx"
cat > "$TMP/int8.yaml" <<YAML
name: bench_int8
seed: 0
threads: $THREADS
include: [fashion_mnist, tensorrt_int8]
model: {checkpoint: $MODEL}
report: {formats: [json], latency: false}
YAML
MC_CONFIG_DIR="$ROOT/configs" "$COMPRESS" -q --recipe "$TMP/int8.yaml" --out "$TMP/run" >"$TMP/run.log" 2>&1 ||
  { cat "$TMP/run.log" >&2; exit 1; }
INT8="$TMP/run/model.onnx"
read -r ours_fp32 ours_int8 < <("$PY" - "$TMP/run/report.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))["summary"]
print(f'{100 * r["baseline"]["top1"]:.2f}', f'{100 * r["final"]["top1"]:.2f}')
PYEOF
)

median() { sed -n 's/.*"median_ms":\([0-9.]*\).*/\1/p'; }
best() { printf '%s\n' "$@" | sort -g | head -n1; }
f=() q=()
for ((r = 0; r < REPEATS; r++)); do
  f+=("$($ORT "$TMP/fp32.onnx" --input "$TMP/x64.npy" --time "$RUNS" --threads "$THREADS" 2>/dev/null | median)")
  q+=("$($ORT "$INT8" --input "$TMP/x64.npy" --time "$RUNS" --threads "$THREADS" 2>/dev/null | median)")
done
tf=$(best "${f[@]}") tq=$(best "${q[@]}")
$ORT "$INT8" --optimized-model "$TMP/int8.opt.onnx" --histogram --threads "$THREADS" 2>/dev/null | sed -n 's/.*"optimized":true.*"histogram":\(.*\)}$/\1/p' >"$TMP/hist"
$ORT "$INT8" --input "$TMP/x.npy" --output "$TMP/int8_logits.npy" --threads "$THREADS" >/dev/null 2>&1
$ORT "$TMP/fp32.onnx" --input "$TMP/x.npy" --output "$TMP/fp32_logits.npy" --threads "$THREADS" >/dev/null 2>&1
ort_int8=$("$PY" "$HERE/bench_int8_data.py" top1 "$TMP/int8_logits.npy" "$TMP/y.npy")
ort_fp32=$("$PY" "$HERE/bench_int8_data.py" top1 "$TMP/fp32_logits.npy" "$TMP/y.npy")
printf '%-28s %10s %10s\n' "" fp32 int8
printf '%-28s %10s %10s\n' "ORT ms (batch $BATCH)" "$tf" "$tq"
printf '%-28s %10s %10s\n' "top-1 ORT (10k test)" "$ort_fp32" "$ort_int8"
printf '%-28s %10s %10s\n' "top-1 ours (executor)" "$ours_fp32" "$ours_int8"
echo "INT8 speed-up (fp32 ms / int8 ms): $(awk -v a="$tf" -v b="$tq" 'BEGIN { printf "%.2f", a / b }')x"
echo "ORT's optimised INT8 graph: $(cat "$TMP/hist")"
echo "(model $MODEL; ORT level all, $THREADS threads, $RUNS timed runs after a warm-up, best median of $REPEATS, interleaved)"
