#!/usr/bin/env bash
# INT8 QDQ export against fp32 in ONNX Runtime, on the trained Fashion-MNIST ResNet-8:
#   1. fp32 ONNX: `compress export MODEL`
#   2. three INT8 QDQ ONNX files from PTQ on MODEL (1024 calibration images, min-max), both with
#      per-channel symmetric int8 weights:
#        s8: configs/tensorrt_int8.yaml (quantize, export, check_tensorrt): symmetric int8
#            activations, TensorRT's convention;
#        u8: affine uint8 activations, the activation grid of PyTorch's x86 qconfig
#            (quantize_fx's default, zero-point 0 after a ReLU, where ORT drops the ReLU);
#        u8 stem: u8 with the stem conv (conv1, one input channel) kept in float (exclude: [conv1]);
#      each run's report gives our executor's fake-quant top-1 on the 10k test set and the
#      quantize stage's seconds (BN folding, placement, calibration, insertion)
#   3. the peer's two ONNX files (scripts/bench_int8_fx.py, same weights loaded into PyTorch):
#        fx:    PyTorch FX PTQ's own QDQ export (prepare_fx, x86 qconfig, same 1024 calibration
#               images, convert_to_reference_fx, torch.onnx.export opset 13);
#        torch: PyTorch's fp32 export of the same network
#   4. ORT latency at batch BATCH on THREADS threads (level all) of the six, all in one process
#      (scripts/bench_int8_time.js), REPEATS times with the order rotated: MODE=blocks (default)
#      runs each model RUNS times in a row with ORT's default session options (worker threads
#      spin), as a deployment runs it; MODE=interleaved runs the models inference by inference with
#      spinning off, for a machine shared with other load (without spinning each of the many short
#      parallel sections of ORT's int8 convs pays a thread wake-up, so int8 comes out slower).
#      Prints the best median per model and the speed-ups ours-fp32 / each and torch-fp32 / FX int8
#      (per repeat: ratio of the medians, or with MODE=interleaved the median over rounds of the
#      paired ratio), median over repeats. Ours fp32 and torch fp32 are the same graph after ORT's
#      optimiser: their ratio is the noise
#   5. top-1 of each ONNX in ORT on the 10k test set (scripts/bench_int8_data.py, numpy) vs ours
#      (executor) and the FX reference model's in PyTorch
#   6. PyTorch FX PTQ (scripts/bench_ptq.py: prepare_fx, x86 qconfig, 1024 calibration images,
#      convert_fx) seconds against our quantize stage's, as a ratio
#
#   scripts/bench_int8.sh BUILD_DIR     env: MODEL=... (default runs/fmnist_resnet8/resnet8_fmnist.mcm,
#                                            else BUILD_DIR/fixtures/resnet8_fmnist/resnet8_fmnist.mcm)
#                                            THREADS=2 BATCH=64 RUNS=200 REPEATS=3 MODE=blocks
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
THREADS=${THREADS:-2}
BATCH=${BATCH:-64}
RUNS=${RUNS:-200}
REPEATS=${REPEATS:-3}
MODE=${MODE:-blocks}
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
"$PY" "$HERE/bench_int8_data.py" testset "$TMP" "$BATCH"

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
quantize u8_stem fashion_mnist "stages:
  - quantize:
      mode: ptq
      weights: {bits: 8, qscheme: per_channel_symmetric, dtype: qint8}
      activations: {bits: 8, qscheme: per_tensor_affine, dtype: quint8, observer: minmax}
      exclude: [conv1]
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
read -r _ ours_u8_stem _ < <(report u8_stem)
mkdir "$TMP/fx"
if ! "$PY" "$HERE/bench_int8_fx.py" "$MODEL" "$TMP/fx" --calib 1024 --threads "$THREADS" \
    2>"$TMP/fx.err" >"$TMP/fx_export.json"; then
  echo "bench_int8.sh: the PyTorch FX QDQ export failed:" >&2
  grep -v Warning "$TMP/fx.err" >&2
  exit 1
fi
fx_ref=$("$PY" -c "import json,sys; print(f'{100 * json.load(open(sys.argv[1]))[\"fx_reference_top1\"]:.2f}')" \
  "$TMP/fx_export.json")

best() { printf '%s\n' "$@" | sort -g | head -n1; }
names=(fp32 s8 u8 u8_stem fx torch)
models=("$TMP/fp32.onnx" "$TMP/s8/model.onnx" "$TMP/u8/model.onnx" "$TMP/u8_stem/model.onnx" "$TMP/fx/fx_int8.onnx"
        "$TMP/fx/torch_fp32.onnx")
args=()
for ((k = 0; k < ${#names[@]}; k++)); do args+=("${names[$k]}=${models[$k]}"); done
for ((r = 0; r < REPEATS; r++)); do
  node "$HERE/bench_int8_time.js" --input "$TMP/xb.npy" --threads "$THREADS" --runs "$RUNS" --mode "$MODE" --rotate "$r" "${args[@]}" \
    >>"$TMP/time.jsonl"
done
hist() { $ORT "$1" --optimized-model "$TMP/opt.onnx" --histogram --threads "$THREADS" 2>/dev/null | sed -n 's/.*"optimized":true.*"histogram":\(.*\)}$/\1/p'; }
top1() {
  $ORT "$1" --input "$TMP/x.npy" --output "$TMP/logits.npy" --threads "$THREADS" >/dev/null 2>&1
  "$PY" "$HERE/bench_int8_data.py" top1 "$TMP/logits.npy" "$TMP/y.npy"
}
ort_fp32=$(top1 "$TMP/fp32.onnx") ort_s8=$(top1 "$TMP/s8/model.onnx") ort_u8=$(top1 "$TMP/u8/model.onnx")
ort_fx=$(top1 "$TMP/fx/fx_int8.onnx") ort_t=$(top1 "$TMP/fx/torch_fp32.onnx")
ort_stem=$(top1 "$TMP/u8_stem/model.onnx")
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

row() { printf '%-31s %9s %9s %9s %9s %9s %10s\n' "$@"; }
row "" "ours fp32" "ours s8" "ours u8" "u8 stem" "FX int8" "torch fp32"
"$PY" - "$TMP/time.jsonl" "$BATCH" <<'PYEOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
names = ["fp32", "s8", "u8", "u8_stem", "fx", "torch"]
by = {n: [r for r in runs if r["name"] == n] for n in names}
best = {n: min(r["median_ms"] for r in by[n]) for n in names}
def ratios(a, b):  # per repeat: a's median / b's median (blocks) or the median paired ratio (interleaved)
    out = []
    for ra, rb in zip(by[a], by[b]):
        if ra["mode"] == "blocks":
            out.append(statistics.median(ra["ms"]) / statistics.median(rb["ms"]))
        else:
            out.append(statistics.median(x / y for x, y in zip(ra["ms"], rb["ms"])))
    return out
def row(label, cells):
    print(f"{label:<31s} " + " ".join(f"{c:>9s}" for c in cells[:5]) + f" {cells[5]:>10s}")
row(f"ORT ms (batch {sys.argv[2]}, best median)", [f"{best[n]:.3f}" for n in names])
row("speed-up ours fp32 /", [""] + [f"{statistics.median(ratios('fp32', n)):.2f}x" for n in names[1:]])
row("speed-up torch fp32 / FX int8", ["", "", "", "", f"{statistics.median(ratios('torch', 'fx')):.2f}x", ""])
print(f"speed-up = median over repeats ({runs[0]['mode']}); per repeat: " +
      "; ".join(f"{n} " + "/".join(f"{v:.2f}" for v in ratios("fp32", n)) for n in names[1:]) +
      "; torch/fx " + "/".join(f"{v:.2f}" for v in ratios("torch", "fx")))
print("per-repeat medians (ms): " + "; ".join(f"{n} " + " ".join(f"{r['median_ms']:.2f}" for r in by[n]) for n in names))
PYEOF
row "top-1 ORT (10k test)" "$ort_fp32" "$ort_s8" "$ort_u8" "$ort_stem" "$ort_fx" "$ort_t"
row "top-1 executor / PyTorch" "$ours_fp32" "$ours_s8" "$ours_u8" "$ours_u8_stem" "$fx_ref" ""
h32=$(hist "$TMP/fp32.onnx") ht32=$(hist "$TMP/fx/torch_fp32.onnx")
if [ "$h32" = "$ht32" ]; then
  echo "ours fp32 and torch fp32 have the same optimised graph ($h32): their ratio above is the noise"
else
  echo "ORT's optimised fp32 graphs: ours $h32, torch $ht32"
fi
echo "ORT's optimised s8 graph: $(hist "$TMP/s8/model.onnx")"
echo "ORT's optimised u8 graph: $(hist "$TMP/u8/model.onnx")"
echo "ORT's optimised u8 stem graph: $(hist "$TMP/u8_stem/model.onnx")"
echo "ORT's optimised FX int8 graph: $(hist "$TMP/fx/fx_int8.onnx")"
echo "PTQ calibration+quantization s (1024 images): ours s8 $secs_s8, ours u8 $secs_u8, PyTorch FX (x86) best of 2 ${fx[*]};" \
  "ratio ours/pytorch (best/best) $(ratio "$secs_ours" "$secs_fx")"
echo "(model $MODEL; s8 = symmetric int8 activations (TensorRT), u8 = affine uint8 activations (FX x86 qconfig);"
echo " u8 stem = u8 with conv1 (1 input channel) in float;"
echo " FX int8 = PyTorch FX PTQ's QDQ export (x86 qconfig, convert_to_reference_fx), its PyTorch top-1 = the reference model's;"
echo " ORT level all, $THREADS threads, $MODE: $RUNS runs per model and repeat, best median of $REPEATS)"
