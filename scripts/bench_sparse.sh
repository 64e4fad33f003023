#!/usr/bin/env bash
# ONNX sparse initializers (export: {sparse_initializers}): file size, ONNX Runtime session creation
# time and run latency of a pruned model exported with dense float32 initializers against the same
# model with sparse ones (auto), timed in one process (scripts/bench_sparse_time.js), interleaved,
# at batch BATCH on THREADS intra-op threads. Models: the trained ResNet-8 (DENSE), LeNet-300-100
# (zoo, untrained: 266k weights, a 1 MB file) and, when the test fixtures are built, torchvision's
# ResNet-18 (BUILD_DIR/fixtures/resnet18.traced.pt, 11.7M weights, a 47 MB file; batch 1 at
# 224 x 224), each pruned in one shot (global magnitude, no fine-tune: the weights' zeros, not the
# accuracy, decide size and speed).
#
#   scripts/bench_sparse.sh BUILD_DIR    env: DENSE=runs/fmnist_resnet8/resnet8_fmnist.mcm SPARSITY=0.9
#                                             MODELS="resnet8 lenet300_100 resnet18" BATCH=64 THREADS=2
#                                             ROUNDS=30 RUNS=10
# Trains the dense ResNet-8 (recipes/fmnist_resnet8.yaml) first when missing.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
cd "$(dirname "$0")/.."
DENSE=${DENSE:-runs/fmnist_resnet8/resnet8_fmnist.mcm}
SPARSITY=${SPARSITY:-0.9}
MODELS=${MODELS:-"resnet8 lenet300_100 resnet18"}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-30}
RUNS=${RUNS:-10}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for m in $MODELS; do
  shape="$BATCH,1,28,28"
  if [ "$m" = resnet8 ]; then
    if [ ! -f "$DENSE" ]; then  # recipes/fmnist_resnet8.yaml (about 10 minutes on 2 cores)
      "$BUILD/compress" --recipe recipes/fmnist_resnet8.yaml --out "$(dirname "$DENSE")" -q
    fi
    spec="checkpoint: $(realpath "$DENSE"), input: {shape: [1, 1, 28, 28]}"
  elif [ "$m" = resnet18 ]; then
    if [ ! -f "$BUILD/fixtures/resnet18.traced.pt" ]; then
      echo "resnet18: $BUILD/fixtures/resnet18.traced.pt not built (ctest -R fixtures.torchvision), left out"
      continue
    fi
    spec="torchscript: $BUILD/fixtures/resnet18.traced.pt, input: {shape: [1, 3, 224, 224]}"
    shape="1,3,224,224"
  else
    spec="zoo: $m, input: {shape: [1, 1, 28, 28]}"
  fi
  cat >"$TMP/$m.yaml" <<YAML
name: bench_sparse_$m
seed: 0
model: {$spec}
stages:
  - prune: {method: magnitude, sparsity: $SPARSITY, scope: global}
  - export: {onnx: dense.onnx, sparse_initializers: false, codebook_weights: false, ort_eval: false}
  - export: {onnx: sparse.onnx, sparse_initializers: auto, codebook_weights: false, ort_eval: false}
report: {formats: [json], latency: false}
YAML
  "$BUILD/compress" --recipe "$TMP/$m.yaml" --out "$TMP/$m" -q
  dense=$(stat -c %s "$TMP/$m/dense.onnx") sparse=$(stat -c %s "$TMP/$m/sparse.onnx")
  awk -v m="$m" -v d="$dense" -v s="$sparse" -v p="$SPARSITY" \
    'BEGIN { printf "%s pruned %g (one shot): dense ONNX %d bytes, sparse initializers %d bytes (%.3fx)\n", m, p, d, s, s / d }'
  node scripts/bench_sparse_time.js --shape "$shape" --threads "$THREADS" --rounds "$ROUNDS" --runs "$RUNS" \
    dense="$TMP/$m/dense.onnx" sparse="$TMP/$m/sparse.onnx" |
    tr -d '{}"' | awk -F'[:,]' '{ for (i = 1; i < NF; i += 2) v[$i] = $(i + 1);
      printf "  %-7s create %8.2f ms (%5.3fx dense)   run %8.3f ms (%5.3fx dense)\n", v["model"], v["create_ms"],
             v["create_ratio"], v["run_ms"], v["run_ratio"] }'
done
echo "(ONNX Runtime $(node -p "require('./tests/ort/node_modules/onnxruntime-node/package.json').version"), batch $BATCH"\
     "(resnet18: 1), $THREADS threads, medians over $ROUNDS interleaved rounds of session creation + $RUNS runs; ratio > 1: slower than dense)"
