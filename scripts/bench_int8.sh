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
#   3. the peer's two ONNX files (scripts/bench_int8_fx.py, same weights loaded into PyTorch):
#        fx:    PyTorch FX PTQ's own QDQ export (prepare_fx, x86 qconfig, same 1024 calibration
#               images, convert_to_reference_fx, torch.onnx.export opset 13);
#        torch: PyTorch's fp32 export of the same network
#   4. ORT latency of the five at batch 64 on THREADS threads (run_onnx.js --time, level all),
#      interleaved in each of REPEATS rounds, best median; prints the ratios ours-fp32 / each int8
#      and torch-fp32 / fx-int8, and the per-round medians (the noise)
#   5. top-1 of each ONNX in ORT on the 10k test set (scripts/bench_int8_data.py, numpy) vs ours
#      (executor) and the FX reference model's in PyTorch
#   6. PyTorch FX PTQ (scripts/bench_ptq.py: prepare_fx, x86 qconfig, 1024 calibration images,
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
mkdir "$TMP/fx"
if ! "$PY" "$HERE/bench_int8_fx.py" "$MODEL" "$TMP/fx" --calib 1024 --threads "$THREADS" \
    2>"$TMP/fx.err" >"$TMP/fx_export.json"; then
  echo "bench_int8.sh: the PyTorch FX QDQ export failed:" >&2
  grep -v Warning "$TMP/fx.err" >&2
  exit 1
fi
fx_ref=$("$PY" -c "import json,sys; print(f'{100 * json.load(open(sys.argv[1]))[\"fx_reference_top1\"]:.2f}')" \
  "$TMP/fx_export.json")

median() { sed -n 's/.*"median_ms":\([0-9.]*\).*/\1/p'; }
best() { printf '%s\n' "$@" | sort -g | head -n1; }
# Round r times the five models starting at model r % 5 (no model always runs first or last).
models=("$TMP/fp32.onnx" "$TMP/s8/model.onnx" "$TMP/u8/model.onnx" "$TMP/fx/fx_int8.onnx" "$TMP/fx/torch_fp32.onnx")
declare -A med
for ((r = 0; r < REPEATS; r++)); do
  for ((k = 0; k < 5; k++)); do
    m=$(((r + k) % 5))
    med[$m]+="$($ORT "${models[$m]}" --input "$TMP/x64.npy" --time "$RUNS" --threads "$THREADS" 2>/dev/null | median) "
  done
done
f=(${med[0]}) a=(${med[1]}) b=(${med[2]}) x=(${med[3]}) t=(${med[4]})
tf=$(best "${f[@]}") ts8=$(best "${a[@]}") tu8=$(best "${b[@]}") tfx=$(best "${x[@]}") tt=$(best "${t[@]}")
hist() { $ORT "$1" --optimized-model "$TMP/opt.onnx" --histogram --threads "$THREADS" 2>/dev/null | sed -n 's/.*"optimized":true.*"histogram":\(.*\)}$/\1/p'; }
top1() {
  $ORT "$1" --input "$TMP/x.npy" --output "$TMP/logits.npy" --threads "$THREADS" >/dev/null 2>&1
  "$PY" "$HERE/bench_int8_data.py" top1 "$TMP/logits.npy" "$TMP/y.npy"
}
ort_fp32=$(top1 "$TMP/fp32.onnx") ort_s8=$(top1 "$TMP/s8/model.onnx") ort_u8=$(top1 "$TMP/u8/model.onnx")
ort_fx=$(top1 "$TMP/fx/fx_int8.onnx") ort_t=$(top1 "$TMP/fx/torch_fp32.onnx")
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

row() { printf '%-34s %10s %10s %10s %10s %10s\n' "$@"; }
row "" "ours fp32" "ours s8" "ours u8" "FX int8" "torch fp32"
row "ORT ms (batch $BATCH)" "$tf" "$ts8" "$tu8" "$tfx" "$tt"
row "speed-up (ours fp32 ms / ms)" "" "$(ratio "$tf" "$ts8")x" "$(ratio "$tf" "$tu8")x" "$(ratio "$tf" "$tfx")x" "$(ratio "$tf" "$tt")x"
row "speed-up (torch fp32 ms / ms)" "" "" "" "$(ratio "$tt" "$tfx")x" ""
row "top-1 ORT (10k test)" "$ort_fp32" "$ort_s8" "$ort_u8" "$ort_fx" "$ort_t"
row "top-1 executor / PyTorch" "$ours_fp32" "$ours_s8" "$ours_u8" "$fx_ref" ""
echo "per-round ORT medians (ms): ours fp32 ${f[*]}; s8 ${a[*]}; u8 ${b[*]}; FX int8 ${x[*]}; torch fp32 ${t[*]}"
h32=$(hist "$TMP/fp32.onnx") ht32=$(hist "$TMP/fx/torch_fp32.onnx")
if [ "$h32" = "$ht32" ]; then
  echo "noise: ours fp32 and torch fp32 have the same optimised graph ($h32): torch ms / ours ms = $(ratio "$tt" "$tf")"
else
  echo "ORT's optimised fp32 graphs: ours $h32, torch $ht32"
fi
echo "ORT's optimised s8 graph: $(hist "$TMP/s8/model.onnx")"
echo "ORT's optimised u8 graph: $(hist "$TMP/u8/model.onnx")"
echo "ORT's optimised FX int8 graph: $(hist "$TMP/fx/fx_int8.onnx")"
echo "PTQ calibration+quantization s (1024 images): ours s8 $secs_s8, ours u8 $secs_u8, PyTorch FX (x86) best of 2 ${fx[*]};" \
  "ratio ours/pytorch (best/best) $(ratio "$secs_ours" "$secs_fx")"
echo "(model $MODEL; s8 = symmetric int8 activations (TensorRT), u8 = affine uint8 activations (FX x86 qconfig);"
echo " FX int8 = PyTorch FX PTQ's QDQ export (x86 qconfig, convert_to_reference_fx), its PyTorch top-1 = the reference model's;"
echo " ORT level all, $THREADS threads, $RUNS timed runs after a warm-up, best median of $REPEATS, interleaved)"
