#!/usr/bin/env bash
# INT8 QDQ export against fp32 in ONNX Runtime, on the trained Fashion-MNIST ResNet-8:
#   1. fp32 ONNX: `compress export MODEL`
#   2. two INT8 QDQ ONNX files from PTQ on MODEL (1024 calibration images, min-max), both with
#      per-channel symmetric int8 weights:
#        s8: configs/tensorrt_int8.yaml (quantize, export, check_tensorrt): symmetric int8
#            activations, TensorRT's convention;
#        u8: affine uint8 activations, the activation grid of PyTorch's x86 qconfig
#            (quantize_fx's default, zero-point 0 after a ReLU, where ORT drops the ReLU);
#      each run's report gives our executor's fake-quant top-1 on the 10k test set and the
#      quantize stage's seconds (BN folding, placement, calibration, insertion)
#   3. ORT latency of the three at batch 64 on THREADS threads (run_onnx.js --time, level all),
#      interleaved, best median of REPEATS; prints the fp32/int8 latency ratios
#   4. top-1 of each ONNX in ORT on the 10k test set (scripts/bench_int8_data.py, numpy) vs ours
#   5. PyTorch FX PTQ (scripts/bench_ptq.py: prepare_fx, x86 qconfig, 1024 calibration images,
#      convert_fx) seconds against our quantize stage's, as a ratio
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
quantize() {  # NAME INCLUDES STAGES_YAML
  cat > "$TMP/$1.yaml" <<YAML
name: bench_int8_$1
seed: 0
threads: $THREADS
include: [$2]
model: {checkpoint: $MODEL}
data:
  calib: {from: train, samples: 1024}
report: {formats: [json], latency: false}
$3
YAML
  MC_CONFIG_DIR="$ROOT/configs" "$COMPRESS" -q --recipe "$TMP/$1.yaml" --out "$TMP/$1" >"$TMP/$1.log" 2>&1 ||
    { cat "$TMP/$1.log" >&2; exit 1; }
}
quantize s8 "fashion_mnist, tensorrt_int8" ""
quantize u8 fashion_mnist "stages:
  - quantize:
      mode: ptq
      weights: {bits: 8, qscheme: per_channel_symmetric, dtype: qint8}
      activations: {bits: 8, qscheme: per_tensor_affine, dtype: quint8, observer: minmax}
  - export: {onnx: model.onnx, opset: 13}"
report() { "$PY" - "$TMP/$1/report.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["summary"]
q = next(s for s in d["stages"] if s["stage"] == "quantize")
print(f'{100 * r["baseline"]["top1"]:.2f}', f'{100 * r["final"]["top1"]:.2f}', f'{q["details"]["seconds"]:.3f}')
PYEOF
}
read -r ours_fp32 ours_s8 secs_s8 < <(report s8)
read -r _ ours_u8 secs_u8 < <(report u8)

median() { sed -n 's/.*"median_ms":\([0-9.]*\).*/\1/p'; }
best() { printf '%s\n' "$@" | sort -g | head -n1; }
f=() a=() b=()
for ((r = 0; r < REPEATS; r++)); do
  f+=("$($ORT "$TMP/fp32.onnx" --input "$TMP/x64.npy" --time "$RUNS" --threads "$THREADS" 2>/dev/null | median)")
  a+=("$($ORT "$TMP/s8/model.onnx" --input "$TMP/x64.npy" --time "$RUNS" --threads "$THREADS" 2>/dev/null | median)")
  b+=("$($ORT "$TMP/u8/model.onnx" --input "$TMP/x64.npy" --time "$RUNS" --threads "$THREADS" 2>/dev/null | median)")
done
tf=$(best "${f[@]}") ts8=$(best "${a[@]}") tu8=$(best "${b[@]}")
hist() { $ORT "$1" --optimized-model "$TMP/opt.onnx" --histogram --threads "$THREADS" 2>/dev/null | sed -n 's/.*"optimized":true.*"histogram":\(.*\)}$/\1/p'; }
top1() {
  $ORT "$1" --input "$TMP/x.npy" --output "$TMP/logits.npy" --threads "$THREADS" >/dev/null 2>&1
  "$PY" "$HERE/bench_int8_data.py" top1 "$TMP/logits.npy" "$TMP/y.npy"
}
ort_fp32=$(top1 "$TMP/fp32.onnx") ort_s8=$(top1 "$TMP/s8/model.onnx") ort_u8=$(top1 "$TMP/u8/model.onnx")
fx=()
for ((r = 0; r < 2; r++)); do
  if ! "$PY" "$HERE/bench_ptq.py" "$MODEL" --calib 1024 --threads "$THREADS" --limit 1000 2>"$TMP/fx.err" >"$TMP/fx.json"; then
    echo "bench_int8.sh: the PyTorch FX peer failed:" >&2
    grep -v Warning "$TMP/fx.err" >&2
    exit 1
  fi
  fx+=("$("$PY" -c "import json,sys; print(f'{json.load(open(sys.argv[1]))[\"seconds\"]:.3f}')" "$TMP/fx.json")")
done
secs_fx=$(best "${fx[@]}") secs_ours=$(best "$secs_s8" "$secs_u8")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

printf '%-30s %10s %10s %10s\n' "" fp32 "int8 s8" "int8 u8"
printf '%-30s %10s %10s %10s\n' "ORT ms (batch $BATCH)" "$tf" "$ts8" "$tu8"
printf '%-30s %10s %10s %10s\n' "speed-up (fp32 ms / int8 ms)" "" "$(ratio "$tf" "$ts8")x" "$(ratio "$tf" "$tu8")x"
printf '%-30s %10s %10s %10s\n' "top-1 ORT (10k test)" "$ort_fp32" "$ort_s8" "$ort_u8"
printf '%-30s %10s %10s %10s\n' "top-1 ours (executor)" "$ours_fp32" "$ours_s8" "$ours_u8"
echo "ORT's optimised s8 graph: $(hist "$TMP/s8/model.onnx")"
echo "ORT's optimised u8 graph: $(hist "$TMP/u8/model.onnx")"
echo "PTQ calibration+quantization s (1024 images): ours s8 $secs_s8, ours u8 $secs_u8, PyTorch FX (x86) best of 2 ${fx[*]};" \
  "ratio ours/pytorch (best/best) $(ratio "$secs_ours" "$secs_fx")"
echo "(model $MODEL; s8 = symmetric int8 activations (TensorRT), u8 = affine uint8 activations (FX x86 qconfig);"
echo " ORT level all, $THREADS threads, $RUNS timed runs after a warm-up, best median of $REPEATS, interleaved)"
