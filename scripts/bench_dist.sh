#!/usr/bin/env bash
# Data-parallel scaling on one machine: the resnet8 fine-tune from the trained checkpoint (its
# BatchNorms kept) as 2 processes x 1 thread (`compress launch --nproc 2`, `threads: 1`, batch
# BATCH/2 each, synchronised BatchNorm) against 1 process x 2 threads (batch BATCH): the same global
# batch, steps, data order and augmentation. Prints the img/s of both (the second epoch, warm; best
# of REPEATS interleaved runs) and the 2-process run's communication per step, from its report
# (details.epochs[].comm_ms_per_step): waiting for the gradient all-reduce after backward (the part
# not overlapped with it), synchronised BatchNorm's collectives in forward and backward, the loss
# all-reduce. The machine's load average is printed beside them: both sides need the 2 cores.
#
#   scripts/bench_dist.sh BUILD_DIR     env: DENSE=runs/fmnist_resnet8/resnet8_fmnist.mcm BATCH=128
#                                            STEPS=40 REPEATS=3 SYNC_BN=true
# DENSE is what recipes/fmnist_resnet8.yaml trains; without it the test fixture
# (BUILD_DIR/fixtures/resnet8_fmnist, 2 epochs) is used, and without both that recipe is run first
# (~10 minutes).
set -euo pipefail
BUILD=$(realpath "${1:-build}")
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/.."
DENSE=${DENSE:-runs/fmnist_resnet8/resnet8_fmnist.mcm}
BATCH=${BATCH:-128}
STEPS=${STEPS:-40}
REPEATS=${REPEATS:-3}
SYNC_BN=${SYNC_BN:-true}
PY=/usr/bin/python3
. "$HERE/bench_common.sh"
passive_omp

if [ ! -x "$BUILD/compress" ]; then
  echo "bench_dist.sh: $BUILD/compress not found: build it first (cmake --build $BUILD --target compress)" >&2
  exit 2
fi
if [ $((BATCH % 2)) -ne 0 ]; then
  echo "bench_dist.sh: BATCH=$BATCH must be even (2 processes of BATCH/2)" >&2
  exit 2
fi
if [ ! -f "$DENSE" ] && [ -f "$BUILD/fixtures/resnet8_fmnist/resnet8_fmnist.mcm" ]; then
  DENSE=$BUILD/fixtures/resnet8_fmnist/resnet8_fmnist.mcm
fi
ensure_dense "$BUILD" "$DENSE"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/r.yaml" <<EOF
name: bench_dist
seed: 1
threads: 2
model: {checkpoint: $(realpath "$DENSE")}
data:
  train: {dataset: fashion_mnist, batch_size: $BATCH, transform: fmnist_train, workers: 0}
stages:
  - finetune: {epochs: 2, max_steps_per_epoch: $STEPS, validate_each_epoch: false}
report: {formats: [json], latency: false, per_layer: false}
distributed: {sync_batch_norm: $SYNC_BN}
EOF

# The second epoch's figures of a run's report: img/s, then (data-parallel) the ms per step.
epoch2() {
  "$PY" -c "
import json, sys
e = json.load(open('$1/report.json'))['stages'][1]['details']['epochs'][1]
c = e.get('comm_ms_per_step')
print('%.1f' % e['img_per_s'], end='')
if c: print(' %.2f %.2f %.2f %.2f' % (c['grad_allreduce'], c['sync'], c['loss_allreduce'], 1000 * e['seconds'] / $STEPS), end='')
print()"
}
one=() two=()
for ((r = 0; r < REPEATS; r++)); do
  "$BUILD/compress" --recipe "$TMP/r.yaml" --out "$TMP/one$r" -q
  one+=("$(epoch2 "$TMP/one$r")")
  "$BUILD/compress" launch --nproc 2 --master-port 0 -- --recipe "$TMP/r.yaml" --out "$TMP/two$r" -q \
    --threads 1 --set "data.train.batch_size=$((BATCH / 2))"
  two+=("$(epoch2 "$TMP/two$r")")
done
best1=$(printf '%s\n' "${one[@]}" | sort -g | tail -n1)
best2=$(printf '%s\n' "${two[@]}" | sort -g -k1,1 | tail -n1)
read -r ips2 grad sync loss step <<<"$best2"
printf '%-26s %10s %8s\n' "data-parallel resnet8" "img/s" "ratio"
printf '%-26s %10s %8s\n' "1 process x 2 threads" "$best1" "1.00"
printf '%-26s %10s %8s\n' "2 processes x 1 thread" "$ips2" "$(awk -v a="$ips2" -v b="$best1" 'BEGIN { printf "%.2f", a / b }')"
echo "communication per step of the 2-process run (ms, mean over epoch 2 of its best run):"
printf '  gradient all-reduce wait %s, sync BN %s, loss all-reduce %s; whole step %s\n' "$grad" "$sync" "$loss" "$step"
echo "(fine-tune of $DENSE, global batch $BATCH, epoch 2 of 2 x $STEPS steps, sync_batch_norm $SYNC_BN,"
echo " best of $REPEATS interleaved; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
