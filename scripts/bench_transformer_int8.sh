#!/usr/bin/env bash
# Transformer INT8 in ONNX Runtime: fp32 / static INT8 (PTQ + SmoothQuant) / dynamic INT8 exports of
# one encoder, with PyTorch's torch.quantization.quantize_dynamic as the peer:
#   1. scripts/bench_transformer_int8.py make: a 2-layer pre-norm nn.TransformerEncoder (d_model 64,
#      4 heads, 16 tokens) traced by /usr/bin/python3, timing batch x.npy, 256 calibration samples
#   2. ours: `compress export` (fp32), a recipe with `quantize: {mode: ptq, smooth_quant: true}` +
#      export (static), one with `quantize: {mode: dynamic}` + export (dynamic)
#   3. ORT's optimised op histogram of each file, then ORT latency of the three in one process
#      (scripts/bench_int8_time.js, BATCH on THREADS threads, RUNS per model, ORT's default kernels),
#      speed-up = fp32 median / each median
#   4. the peer: PyTorch fp32 and quantize_dynamic({nn.Linear}, qint8) medians at the same batch and
#      threads; its speed-up torch_fp32 / torch_dynamic beside ours
# The imported model has a fixed batch (its reshapes are traced), so the files are exported at BATCH.
#   5. scripts/bench_vit_int8.sh: the trained vit_tiny on Fashion-MNIST (VIT_MCM, default
#      runs/fmnist_vit_tiny/vit_tiny_fmnist.mcm) the same way, with top-1, and a width-192 variant;
#      left out, with a note, when that checkpoint does not exist (files in OUT/vit)
#
#   scripts/bench_transformer_int8.sh BUILD_DIR     env: THREADS=2 BATCH=64 RUNS=200 OUT=/tmp/bench_tint8
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
THREADS=${THREADS:-2}
BATCH=${BATCH:-64}
RUNS=${RUNS:-200}
OUT=${OUT:-/tmp/bench_tint8}
PY=/usr/bin/python3
COMPRESS="$BUILD/compress"
if [ ! -x "$COMPRESS" ]; then echo "bench_transformer_int8.sh: $COMPRESS not found: build it first" >&2; exit 2; fi
if [ ! -d "$ROOT/tests/ort/node_modules/onnxruntime-node" ]; then
  echo "bench_transformer_int8.sh: onnxruntime-node missing: cd tests/ort && npm install --ignore-scripts" >&2; exit 2
fi
COMPRESS_DIR=$(cd "$(dirname "$COMPRESS")" && pwd)
COMPRESS=$COMPRESS_DIR/$(basename "$COMPRESS")
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"
$PY "$HERE/bench_transformer_int8.py" make "$OUT" "$BATCH"
SHAPE="[$BATCH, 1, 16, 64]"
"$COMPRESS" export enc.pt --input-shape "$BATCH,1,16,64" --onnx fp32.onnx 2>/dev/null
for mode in static dynamic; do
  if [ "$mode" = static ]; then
    Q="{mode: ptq, smooth_quant: true}"
    DATA="data:
  calib: {dataset: npy, path: calib.npy, samples: 256, batch_size: $BATCH}"
  else
    Q="{mode: dynamic}"
    DATA=""
  fi
  cat > "$mode.yaml" <<YAML
name: enc_$mode
model: {torchscript: enc.pt, input: {shape: $SHAPE}}
$DATA
stages:
  - quantize: $Q
  - export: {onnx: $mode.onnx}
report: {formats: [json], latency: false}
YAML
  "$COMPRESS" --recipe "$mode.yaml" --out "run_$mode" -q
  cp "run_$mode/$mode.onnx" .
done
echo "== ORT optimised graphs (level all)"
for f in fp32 static dynamic; do
  printf '%-8s ' "$f"
  node "$ROOT/tests/ort/run_onnx.js" "$f.onnx" --input x.npy --histogram --optimized-model "$f.opt.onnx" \
    --int8-kernels default 2>/dev/null | grep '"optimized":true' | sed 's/.*"histogram"://'
done
echo "== ORT latency, batch $BATCH, $THREADS threads ($RUNS runs each); PyTorch peer, same batch and threads"
node "$HERE/bench_int8_time.js" --input x.npy --threads "$THREADS" --runs "$RUNS" \
  fp32=fp32.onnx static=static.onnx dynamic=dynamic.onnx > ort.jsonl
$PY "$HERE/bench_transformer_int8.py" peer "$OUT" "$THREADS" "$RUNS" > torch.jsonl
$PY "$HERE/bench_transformer_int8.py" summary "$OUT"
VIT_MCM=${VIT_MCM:-$ROOT/runs/fmnist_vit_tiny/vit_tiny_fmnist.mcm}
echo
if [ -f "$VIT_MCM" ]; then
  VIT_MCM="$VIT_MCM" THREADS="$THREADS" BATCH="$BATCH" OUT="$OUT/vit" bash "$HERE/bench_vit_int8.sh" "$COMPRESS_DIR"
else
  echo "vit_tiny INT8: no trained checkpoint at $VIT_MCM (compress --recipe recipes/fmnist_vit_tiny.yaml" \
       "--out runs/fmnist_vit_tiny, about 15 minutes), so scripts/bench_vit_int8.sh did not run"
fi
