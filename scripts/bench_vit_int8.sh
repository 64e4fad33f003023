#!/usr/bin/env bash
# vit_tiny INT8 in ONNX Runtime, with PyTorch's quantize_dynamic of the same model as the peer:
#   1. ours, from the trained checkpoint VIT_MCM (recipes/fmnist_vit_tiny.yaml writes it): the fp32
#      export, recipes/vit_tiny_int8.yaml (static: PTQ + SmoothQuant, QDQ) and the same with
#      `quantize: {mode: dynamic}`; each export's ONNX Runtime top-1 on the 10,000 test images (the
#      export stage's ort_eval)
#   2. the peer (scripts/bench_vit_int8.py): the model rebuilt in PyTorch from the fp32 export's
#      initializers, its output checked against ORT's (fp32); fp32 and
#      torch.quantization.quantize_dynamic({nn.Linear}, qint8) top-1 on the same images
#   3. latency of a batch of BATCH test images on THREADS threads: ROUNDS rounds, each ORT's three
#      files interleaved (scripts/bench_int8_time.js --mode interleaved, RUNS runs) and then PyTorch's
#      two models interleaved (RUNS runs); medians over all rounds. ORT's speed-ups are the median
#      paired ratio (fp32 ms / this ms in the same round), PyTorch's rows are its median over ORT
#      fp32's median, and quantize_dynamic over torch fp32 (paired) is the peer's own speed-up
#   4. WIDE (default 192, 0 = none): the same architecture at that width (WIDE/64 heads), fresh
#      weights, traced by PyTorch and imported (a fixed batch), calibrated on 256 test images: the
#      same timings, no top-1
#
#   scripts/bench_vit_int8.sh BUILD_DIR   env: VIT_MCM=runs/fmnist_vit_tiny/vit_tiny_fmnist.mcm THREADS=2
#                                              BATCH=64 RUNS=30 ROUNDS=3 WIDE=192 OUT=/tmp/bench_vit_int8
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
VIT_MCM=${VIT_MCM:-$ROOT/runs/fmnist_vit_tiny/vit_tiny_fmnist.mcm}
THREADS=${THREADS:-2}
BATCH=${BATCH:-64}
RUNS=${RUNS:-30}
ROUNDS=${ROUNDS:-3}
WIDE=${WIDE:-192}
OUT=${OUT:-/tmp/bench_vit_int8}
PY=/usr/bin/python3
COMPRESS="$BUILD/compress"
if [ ! -x "$COMPRESS" ]; then echo "bench_vit_int8.sh: $COMPRESS not found: build it first" >&2; exit 2; fi
if [ ! -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ]; then
  echo "bench_vit_int8.sh: onnxruntime-node missing: cd tests/ort && npm install --ignore-scripts" >&2; exit 2
fi
if [ ! -f "$VIT_MCM" ]; then
  echo "bench_vit_int8.sh: no trained vit_tiny at $VIT_MCM: run \`compress --recipe recipes/fmnist_vit_tiny.yaml" \
       "--out runs/fmnist_vit_tiny\` first, or set VIT_MCM" >&2
  exit 2
fi
COMPRESS=$(cd "$(dirname "$COMPRESS")" && pwd)/$(basename "$COMPRESS")
VIT_MCM=$(cd "$(dirname "$VIT_MCM")" && pwd)/$(basename "$VIT_MCM")
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"

# ORT's and PyTorch's timings, ROUNDS rounds alternating; $1 = tag, $2 = peer weights, rest NAME=FILE.
time_rounds() {
  local tag=$1 weights=$2
  shift 2
  : > "ort_$tag.jsonl"
  : > "torch_$tag.jsonl"
  for ((r = 0; r < ROUNDS; r++)); do
    node "$HERE/bench_int8_time.js" --input "x_$tag.npy" --threads "$THREADS" --runs "$RUNS" --mode interleaved "$@" \
      >> "ort_$tag.jsonl"
    $PY "$HERE/bench_vit_int8.py" time "$weights" "x_$tag.npy" "$THREADS" "$RUNS" >> "torch_$tag.jsonl"
  done
}

$PY "$HERE/bench_vit_int8.py" batch x_vit.npy "$BATCH"
echo "== vit_tiny ($VIT_MCM): exports and ONNX Runtime top-1 on the test set"
cat > fp32.yaml <<YAML
name: vit_fp32
include: [fashion_mnist]
model: {checkpoint: $VIT_MCM}
stages:
  - export: {onnx: fp32.onnx}
report: {formats: [json], latency: false}
YAML
cat > dynamic.yaml <<YAML
name: vit_dynamic
include: [fashion_mnist]
model: {checkpoint: $VIT_MCM}
stages:
  - quantize: {mode: dynamic}
  - export: {onnx: dynamic.onnx}
report: {formats: [json], latency: false}
YAML
"$COMPRESS" --recipe fp32.yaml --out run_fp32 -q
"$COMPRESS" --recipe "$ROOT/recipes/vit_tiny_int8.yaml" --set "model.checkpoint=$VIT_MCM" --set threads="$THREADS" \
  --set stages.1.export.onnx=static.onnx --out run_static -q
"$COMPRESS" --recipe dynamic.yaml --out run_dynamic -q
for v in fp32 static dynamic; do cp "run_$v/$v.onnx" .; done
node "$ROOT/tests/ort/run_onnx.js" fp32.onnx --input x_vit.npy --output y_fp32.npy > /dev/null
$PY "$HERE/bench_vit_int8.py" check fp32.onnx x_vit.npy y_fp32.npy
$PY "$HERE/bench_vit_int8.py" top1 fp32.onnx > torch_top1.jsonl
echo "== ORT optimised graphs (level all)"
for v in fp32 static dynamic; do
  printf '%-8s ' "$v"
  node "$ROOT/tests/ort/run_onnx.js" "$v.onnx" --input x_vit.npy --histogram --optimized-model "$v.opt.onnx" \
    --int8-kernels default 2>/dev/null | grep '"optimized":true' | sed 's/.*"histogram"://'
done
time_rounds vit fp32.onnx fp32=fp32.onnx static=static.onnx dynamic=dynamic.onnx

if [ "$WIDE" -gt 0 ]; then
  W=$WIDE
  $PY "$HERE/bench_vit_int8.py" wide "$OUT" "$W" $((W / 64)) "$BATCH"
  $PY "$HERE/bench_vit_int8.py" batch x_wide.npy "$BATCH"
  $PY "$HERE/bench_vit_int8.py" batch calib.npy 256
  "$COMPRESS" export vit.pt --input-shape "$BATCH,1,28,28" --onnx wide_fp32.onnx 2>/dev/null
  for mode in static dynamic; do
    if [ "$mode" = static ]; then
      Q="{mode: ptq, smooth_quant: {alpha: 0.5}, adds: integer}"  # as recipes/vit_tiny_int8.yaml
      DATA="data:
  calib: {dataset: npy, path: calib.npy, samples: 256, batch_size: $BATCH}"
    else
      Q="{mode: dynamic}"
      DATA=""
    fi
    cat > "wide_$mode.yaml" <<YAML
name: vit${W}_$mode
model: {torchscript: vit.pt, input: {shape: [$BATCH, 1, 28, 28]}}
$DATA
stages:
  - quantize: $Q
  - export: {onnx: wide_$mode.onnx}
report: {formats: [json], latency: false}
YAML
    "$COMPRESS" --recipe "wide_$mode.yaml" --out "run_wide_$mode" -q
    cp "run_wide_$mode/wide_$mode.onnx" .
  done
  time_rounds wide vit_state.pt fp32=wide_fp32.onnx static=wide_static.onnx dynamic=wide_dynamic.onnx
fi
echo "== latency: batch $BATCH, $THREADS threads, $ROUNDS rounds of $RUNS runs (ORT interleaved, then PyTorch interleaved)"
$PY "$HERE/bench_vit_int8.py" summary "$OUT" "$WIDE"
