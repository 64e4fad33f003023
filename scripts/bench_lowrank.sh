#!/usr/bin/env bash
# Low-rank decomposition pay-off, beside structured pruning, on the trained ResNet-8 (Fashion-MNIST):
#   tucker2:     recipes/resnet8_tucker2.yaml     (greedy ranks for half the MACs, 3-epoch fine-tune)
#   cp:          recipes/resnet8_cp.yaml          (CP chains, 3-epoch fine-tune)
#   channel_svd: recipes/resnet8_channel_svd.yaml (greedy ranks for half the MACs, 3-epoch fine-tune)
#   channels:    recipes/resnet8_channels50.yaml  (structured pruning to half the MACs, 3-epoch fine-tune)
# ONNX Runtime latency of each export against the dense model's, all exported by us, at batch 64
# on 2 intra-op threads, timed interleaved REPEATS times (each: 1 warm-up + RUNS timed inferences),
# the best median counting (the least disturbed by other load); top-1 before the fine-tune, after
# it (our executor: the recipe's report) and ONNX Runtime's on the export (10k test set).
# Then:
#   - the greedy rank search against a uniform rank ratio at the same MACs, before any fine-tune:
#     the tucker2 recipe's decompose stage (target macs) with round_to 1, and with rank_ratio
#     instead of the target, the ratio bisected until the MACs match (within MATCH, default 2 %);
#     and the recipe's own search (its round_to);
#   - LeNet-300-100 (recipes/lenet300_svd.yaml): SVD of the fc layers against a dense LeNet-300-100
#     trained as long as the recipe trains in all (train + fine-tune epochs, same optimizer/schedule).
#
#   scripts/bench_lowrank.sh BUILD_DIR   env: DENSE=runs/fmnist_resnet8/resnet8_fmnist.mcm RUNS_DIR=runs
#                                             BATCH=64 THREADS=2 RUNS=30 REPEATS=3 MATCH=0.02
#                                             SKIP_TABLE=1 SKIP_SEARCH=1 SKIP_LENET=1 (leave a part out)
#                                             SETS="threads=1 ..." (--set for every compress run; on a
#                                             loaded machine 1 thread trains several times faster)
# Trains the dense model (recipes/fmnist_resnet8.yaml) and runs each recipe first when its export is
# missing (RUNS_DIR/<recipe>/<recipe>.onnx), all from the same dense model.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
cd "$(dirname "$0")/.."
DENSE=${DENSE:-runs/fmnist_resnet8/resnet8_fmnist.mcm}
RUNS_DIR=${RUNS_DIR:-runs}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
RUNS=${RUNS:-30}
REPEATS=${REPEATS:-3}
MATCH=${MATCH:-0.02}
PY=/usr/bin/python3
ORT="node tests/ort/run_onnx.js"
MODELS=(resnet8_tucker2 resnet8_cp resnet8_channel_svd resnet8_channels50)
SET_ARGS=()
for s in ${SETS:-}; do SET_ARGS+=(--set "$s"); done

if [ ! -f "$DENSE" ]; then  # recipes/fmnist_resnet8.yaml (about 10 minutes on 2 cores)
  "$BUILD/compress" --recipe recipes/fmnist_resnet8.yaml "${SET_ARGS[@]}" --out "$(dirname "$DENSE")" -q
fi
DENSE=$(realpath "$DENSE")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ -z "${SKIP_TABLE:-}" ]; then
  for m in "${MODELS[@]}"; do
    if [ ! -f "$RUNS_DIR/$m/$m.onnx" ]; then
      "$BUILD/compress" --recipe "recipes/$m.yaml" --set "model.checkpoint=$DENSE" "${SET_ARGS[@]}" --out "$RUNS_DIR/$m" -q
    fi
  done
  "$BUILD/compress" export "$DENSE" --onnx "$TMP/dense.onnx" >/dev/null
  "$PY" scripts/bench_int8_data.py testset "$TMP" "$BATCH"  # x.npy, y.npy: 10k test set; xb.npy: a batch

  median() { sed -n 's/.*"median_ms":\([0-9.]*\).*/\1/p'; }
  best() { printf '%s\n' "$@" | sort -g | head -n1; }
  onnx_of() { if [ "$1" = dense ]; then echo "$TMP/dense.onnx"; else echo "$RUNS_DIR/$1/$1.onnx"; fi; }
  declare -A times
  for ((r = 0; r < REPEATS; r++)); do
    for m in dense "${MODELS[@]}"; do
      times[$m]+="$($ORT "$(onnx_of "$m")" --input "$TMP/xb.npy" --time "$RUNS" --threads "$THREADS" | median) "
    done
  done
  # report.json -> "<MACs kept %> <top-1 after the first stage> <top-1 at the end> <dense top-1>"
  summary() {
    "$PY" - "$1/report.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))['stages']
t = lambda i: 100 * s[i]['metrics']['top1']
print('%.1f%% %.2f %.2f %.2f' % (100 * s[-1]['metrics']['macs'] / s[0]['metrics']['macs'], t(1), t(-1), t(0)))
EOF
  }
  ort_top1() {
    $ORT "$1" --input "$TMP/x.npy" --output "$TMP/logits.npy" --threads "$THREADS" >/dev/null
    "$PY" scripts/bench_int8_data.py top1 "$TMP/logits.npy" "$TMP/y.npy"
  }
  # shellcheck disable=SC2086
  d=$(best ${times[dense]})
  read -r _ _ _ dense_top1 <<<"$(summary "$RUNS_DIR/${MODELS[0]}")"
  fmt='%-22s %10s %10s %10s %10s %10s %9s\n'
  printf "$fmt" model "MACs kept" "top-1 pre" "top-1 %" "ORT top-1" "median ms" speed-up
  printf "$fmt" "dense resnet8" 100% "" "$dense_top1" "$(ort_top1 "$TMP/dense.onnx")" "$d" ""
  for m in "${MODELS[@]}"; do
    read -r macs pre post _ <<<"$(summary "$RUNS_DIR/$m")"
    # shellcheck disable=SC2086
    t=$(best ${times[$m]})
    printf "$fmt" "${m#resnet8_}" "$macs" "$pre" "$post" "$(ort_top1 "$(onnx_of "$m")")" "$t" \
      "$(awk -v a="$d" -v b="$t" 'BEGIN { printf "%.2fx", a / b }')"
  done
  echo "(ORT, batch $BATCH, $THREADS threads, best median of $REPEATS x $RUNS runs, interleaved; top-1 pre: after"
  echo " decompose/prune, before the fine-tune; top-1 %: our executor at the end of the recipe)"
fi

if [ -z "${SKIP_SEARCH:-}" ]; then
  # The tucker2 recipe's decompose stage alone (greedy search for its MACs target) against the same
  # stage with a uniform rank ratio, bisected until the MACs kept match; no fine-tune. Both on one
  # grid (round_to 1: with the recipe's round_to 8 a uniform ratio jumps from 40.8 % of the MACs to
  # the dense 16-channel layers and cannot match); the recipe's own search (round_to 8) is shown too.
  stage_json() {  # $1: rank_ratio, or "" for the recipe's own target; $2: round_to, or "" for the recipe's
    "$PY" - "$1" "$2" <<'EOF'
import json, sys, yaml
d = yaml.safe_load(open('recipes/resnet8_tucker2.yaml'))['stages'][0]['decompose']
if sys.argv[1]:
    for k in ('target', 'calib_batches'): d.pop(k, None)
    d['rank_ratio'] = float(sys.argv[1])
if sys.argv[2]:
    d['round_to'] = int(sys.argv[2])
print(json.dumps([{'decompose': d}]))
EOF
  }
  decompose_only() {  # $1: out dir, $2: rank_ratio or "", $3: round_to or "", then more --set arguments
    local out=$1 ratio=$2 round=$3; shift 3
    "$BUILD/compress" --recipe recipes/resnet8_tucker2.yaml --set "model.checkpoint=$DENSE" \
      --set "stages=$(stage_json "$ratio" "$round")" --set report.latency=false "${SET_ARGS[@]}" "$@" --out "$out" -q >/dev/null
    "$PY" -c "import json; s=json.load(open('$out/report.json'))['stages']; \
print('%.5f %.2f %.4f' % (s[-1]['metrics']['macs'] / s[0]['metrics']['macs'], 100 * s[-1]['metrics']['top1'], s[-1]['metrics']['loss']))"
  }
  read -r r_macs r_top1 r_loss <<<"$(decompose_only "$TMP/greedy_recipe" "" "")"
  read -r g_macs g_top1 g_loss <<<"$(decompose_only "$TMP/greedy" "" 1)"
  # MACs do not depend on the weights: bisect with a 64-image val set, then measure top-1 on all of it.
  lo=0.05 hi=1.0 u_macs=1 ratio=1
  for ((i = 0; i < 14; i++)); do
    ratio=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.4f", (a + b) / 2 }')
    read -r u_macs _ <<<"$(decompose_only "$TMP/uniform_$i" "$ratio" 1 --set data.val.limit=64)"
    awk -v u="$u_macs" -v g="$g_macs" -v m="$MATCH" 'BEGIN { exit !(u / g - 1 <= m && g / u - 1 <= m) }' && break
    if awk -v u="$u_macs" -v g="$g_macs" 'BEGIN { exit !(u > g) }'; then hi=$ratio; else lo=$ratio; fi
  done
  read -r u_macs u_top1 u_loss <<<"$(decompose_only "$TMP/uniform" "$ratio" 1)"
  target=$("$PY" -c "import yaml; print(yaml.safe_load(open('recipes/resnet8_tucker2.yaml'))['stages'][0]['decompose']['target'])")
  round=$("$PY" -c "import yaml; print(yaml.safe_load(open('recipes/resnet8_tucker2.yaml'))['stages'][0]['decompose'].get('round_to', 1))")
  pct() { awk -v a="$1" 'BEGIN { printf "%.1f%%", 100 * a }'; }
  echo
  printf '%-46s %10s %10s %10s\n' "tucker2, no fine-tune" "MACs kept" "top-1 %" "val loss"
  printf '%-46s %10s %10s %10s\n' "greedy search, target $target, round_to 1" "$(pct "$g_macs")" "$g_top1" "$g_loss"
  printf '%-46s %10s %10s %10s\n' "uniform rank_ratio $ratio, round_to 1" "$(pct "$u_macs")" "$u_top1" "$u_loss"
  printf '%-46s %10s %10s %10s\n' "greedy search, the recipe's round_to $round" "$(pct "$r_macs")" "$r_top1" "$r_loss"
  echo "(recipes/resnet8_tucker2.yaml's decompose stage on $DENSE, our executor, 10k test set)"
fi

if [ -z "${SKIP_LENET:-}" ]; then
  # LeNet-300-100: the SVD recipe, and a dense model trained for the recipe's train + fine-tune
  # epochs with its train stage's optimizer and schedule.
  LENET_RUN=$RUNS_DIR/lenet300_svd LENET_DENSE_RUN=$RUNS_DIR/lenet300_dense
  if [ ! -f "$LENET_RUN/lenet300_svd.onnx" ]; then
    "$BUILD/compress" --recipe recipes/lenet300_svd.yaml "${SET_ARGS[@]}" --out "$LENET_RUN" -q
  fi
  epochs=$("$PY" -c "import yaml; s=yaml.safe_load(open('recipes/lenet300_svd.yaml'))['stages']; \
print(s[0]['train']['epochs'] + s[2]['finetune']['epochs'])")
  if [ ! -f "$LENET_DENSE_RUN/report.json" ]; then
    "$BUILD/compress" --recipe recipes/lenet300_svd.yaml --set "stages=$("$PY" -c "import json, yaml; \
t=yaml.safe_load(open('recipes/lenet300_svd.yaml'))['stages'][0]['train']; t['epochs']=$epochs; \
print(json.dumps([{'train': t}]))")" --set "name=lenet300_dense" "${SET_ARGS[@]}" --out "$LENET_DENSE_RUN" -q
  fi
  lenet() {  # run dir -> "<top-1 at the end> <params at the end> <params at the start>"
    "$PY" -c "import json; s=json.load(open('$1/report.json'))['stages']; \
print('%.2f %d %d' % (100 * s[-1]['metrics']['top1'], s[-1]['metrics']['params'], s[0]['metrics']['params']))"
  }
  read -r svd_top1 svd_params p0 <<<"$(lenet "$LENET_RUN")"
  read -r dense_top1 dense_params _ <<<"$(lenet "$LENET_DENSE_RUN")"
  echo
  printf '%-40s %10s %10s %10s\n' "lenet300_100" params "fewer" "top-1 %"
  printf '%-40s %10s %10s %10s\n' "dense, $epochs epochs" "$dense_params" "" "$dense_top1"
  printf '%-40s %10s %10s %10s\n' "svd (recipes/lenet300_svd.yaml)" "$svd_params" \
    "$(awk -v a="$p0" -v b="$svd_params" 'BEGIN { printf "%.2fx", a / b }')" "$svd_top1"
fi
