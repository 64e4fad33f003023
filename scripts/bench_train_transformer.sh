#!/usr/bin/env bash
# Transformer training throughput: our trainer (BUILD_DIR/train_bench --model vit_tiny) against a
# plain PyTorch loop on the same model (scripts/bench_train.py: the zoo's vit_tiny in timm's layout,
# Debian's /usr/bin/python3 with torch 1.13), the same data shape (Fashion-MNIST 1x28x28, 10
# classes), batch, optimizer (AdamW as recipes/fmnist_vit_tiny.yaml: lr 0.002, weight decay 0.05,
# none on biases and norms) and thread count. Each side runs REPEATS times, interleaved, and the
# median counts. Both sides run under the OpenMP wait policy that `compress` and train_bench give
# themselves (OMP_WAIT_POLICY=PASSIVE unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set:
# src/train/threads.h), so the ratio compares the trainers, not the policies.
#
#   scripts/bench_train_transformer.sh BUILD_DIR   env: BATCH=128 WARMUP=3 STEPS=20 THREADS=2 REPEATS=3
#                                                       DATA=random|fashion_mnist
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
BATCH=${BATCH:-128}
WARMUP=${WARMUP:-3}
STEPS=${STEPS:-20}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-3}
DATA=${DATA:-random}
PY=/usr/bin/python3
BENCH="$BUILD/train_bench"

. "$HERE/bench_common.sh"
require_train_bench bench_train_transformer.sh "$BENCH" "$PY"
passive_omp

ARGS=(--model vit_tiny --optimizer adamw --batch "$BATCH" --warmup "$WARMUP" --steps "$STEPS" --threads "$THREADS"
      --data "$DATA")
ips() { sed -n 's/.*"img_per_s": \([0-9.]*\).*/\1/p'; }
cpu() { sed -n 's/.*"img_per_cpu_s": \([0-9.]*\).*/\1/p'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

ours=() theirs=() ours_cpu=() theirs_cpu=()
for ((r = 0; r < REPEATS; r++)); do
  j=$("$BENCH" "${ARGS[@]}")
  ours+=("$(ips <<<"$j")") ours_cpu+=("$(cpu <<<"$j")")
  j=$("$PY" "$HERE/bench_train.py" "${ARGS[@]}")
  theirs+=("$(ips <<<"$j")") theirs_cpu+=("$(cpu <<<"$j")")
done
o=$(median "${ours[@]}") t=$(median "${theirs[@]}")
oc=$(median "${ours_cpu[@]}") tc=$(median "${theirs_cpu[@]}")
printf '%-10s %12s %14s %7s   %14s %16s %7s\n' model "ours img/s" "pytorch img/s" ratio "ours img/cpu-s" "pytorch img/cpu-s" ratio
printf '%-10s %12s %14s %7s   %14s %16s %7s\n' vit_tiny "$o" "$t" "$(ratio "$o" "$t")" "$oc" "$tc" "$(ratio "$oc" "$tc")"
echo "(vit_tiny training, AdamW, batch $BATCH, $THREADS threads, OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} on both sides,"
echo " $WARMUP warm-up + $STEPS timed steps, data $DATA, median of $REPEATS interleaved runs: ours ${ours[*]}, pytorch ${theirs[*]})"
