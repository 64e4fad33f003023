#!/usr/bin/env bash
# Training throughput: our trainer (BUILD_DIR/train_bench) against a plain PyTorch loop
# (scripts/bench_train.py, Debian's /usr/bin/python3 with torch 1.13) on the same models, data shape
# (Fashion-MNIST 1x28x28, 10 classes), batch, optimizer and thread count. Each side runs REPEATS
# times, interleaved, and the best run counts (the least disturbed by other load on the machine).
#
#   scripts/bench.sh BUILD_DIR            env: MODELS="resnet8 lenet5" BATCH=128 WARMUP=5 STEPS=30
#                                              THREADS=2 REPEATS=3 DATA=random|fashion_mnist
#                                              SKIP_DEEPC=1 (leave out bench_deep_compression.sh)
# then the transformer training line (bench_train_transformer.sh: vit_tiny, AdamW, against PyTorch)
# and data-parallel scaling (bench_dist.sh: 2 processes x 1 thread against 1 x 2, communication per step)
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
MODELS=${MODELS:-"resnet8 lenet5"}
BATCH=${BATCH:-128}
WARMUP=${WARMUP:-5}
STEPS=${STEPS:-30}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-3}
DATA=${DATA:-random}
PY=/usr/bin/python3
BENCH="$BUILD/train_bench"

. "$HERE/bench_common.sh"
require_train_bench bench.sh "$BENCH" "$PY"
passive_omp

ARGS=(--batch "$BATCH" --warmup "$WARMUP" --steps "$STEPS" --threads "$THREADS" --data "$DATA")
ips() { sed -n 's/.*"img_per_s": \([0-9.]*\).*/\1/p'; }
cpu() { sed -n 's/.*"img_per_cpu_s": \([0-9.]*\).*/\1/p'; }
best() { printf '%s\n' "$@" | sort -g | tail -n1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

printf '%-10s %12s %14s %7s   %14s %16s %7s\n' model "ours img/s" "pytorch img/s" ratio "ours img/cpu-s" "pytorch img/cpu-s" ratio
for m in $MODELS; do
  ours=() theirs=() ours_cpu=() theirs_cpu=()
  for ((r = 0; r < REPEATS; r++)); do
    j=$("$BENCH" --model "$m" "${ARGS[@]}")
    ours+=("$(ips <<<"$j")") ours_cpu+=("$(cpu <<<"$j")")
    j=$("$PY" "$HERE/bench_train.py" --model "$m" "${ARGS[@]}")
    theirs+=("$(ips <<<"$j")") theirs_cpu+=("$(cpu <<<"$j")")
  done
  o=$(best "${ours[@]}") t=$(best "${theirs[@]}")
  oc=$(best "${ours_cpu[@]}") tc=$(best "${theirs_cpu[@]}")
  printf '%-10s %12s %14s %7s   %14s %16s %7s\n' "$m" "$o" "$t" "$(ratio "$o" "$t")" "$oc" "$tc" "$(ratio "$oc" "$tc")"
done
echo "(batch $BATCH, $THREADS threads, $WARMUP warm-up + $STEPS timed steps, data $DATA, best of $REPEATS;"
echo " ratio = ours / pytorch; img/cpu-s = images per second of process CPU time, less sensitive to other load)"

echo
bash "$HERE/bench_train_transformer.sh" "$BUILD"
echo; bash "$HERE/bench_dist.sh" "$BUILD"
echo
bash "$HERE/bench_prune.sh" "$BUILD"
echo; bash "$HERE/bench_sparse.sh" "$BUILD"
echo; bash "$HERE/bench_lowrank.sh" "$BUILD"
if [ -z "${SKIP_DEEPC:-}" ]; then echo; bash "$HERE/bench_deep_compression.sh" "$BUILD"; fi
echo
bash "$HERE/bench_ptq.sh" "$BUILD"
echo; bash "$HERE/bench_int8.sh" "$BUILD"
echo; bash "$HERE/bench_graph.sh" "$BUILD"
echo; bash "$HERE/bench_transformer_int8.sh" "$BUILD"
