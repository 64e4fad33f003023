#!/usr/bin/env bash
# Deep Compression (Han et al. 2016: pruning -> weight sharing -> Huffman) on Fashion-MNIST:
#   lenet300: recipes/lenet300_deep_compression.yaml (zoo lenet300_100)
#   lenet5:   recipes/lenet5_deep_compression.yaml   (zoo lenet5, the classic 6/16/120/84 LeNet-5)
#   lenet5_caffe: recipes/lenet5_caffe_deep_compression.yaml (zoo lenet5_caffe, Caffe's LeNet: the
#             paper's LeNet-5, 431K parameters)
# Each recipe trains, prunes (AGP, per-layer sparsity), fine-tunes, clusters (k-means codebooks),
# fine-tunes the codebooks and saves a .mcz; its dense reference is the same model trained with the
# recipe's train stage settings for as many epochs as the recipe trains in all (train + every
# finetune). Prints top-1 (our executor, 10k test set) of both, the gap, the .mcz's size on disk and
# its ratio to the model's tensors at fp32 (the save stage's details.archive), then per layer, as
# the paper's Tables 2/3: weights, non-zeros, cluster index bits, relative position bits, Huffman
# gain and the bytes stored (compress rate = bytes / fp32 bytes).
#
#   scripts/bench_deep_compression.sh BUILD_DIR   env: RUNS_DIR=runs
#                                                      SKIP_LENET300=1 SKIP_LENET5=1
#                                                      SKIP_LENET5_CAFFE=1 (leave one out)
#                                                      SETS="threads=1 ..." (--set for every compress
#                                                      run; on a loaded machine 1 thread trains faster)
# Each run is skipped when its output is there (RUNS_DIR/<recipe>/<recipe>.mcz, RUNS_DIR/<recipe>_dense/
# report.json): remove them to measure again.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
cd "$(dirname "$0")/.."
RUNS_DIR=${RUNS_DIR:-runs}
MODELS=""
[ -n "${SKIP_LENET300:-}" ] || MODELS+=" lenet300"
[ -n "${SKIP_LENET5:-}" ] || MODELS+=" lenet5"
[ -n "${SKIP_LENET5_CAFFE:-}" ] || MODELS+=" lenet5_caffe"
[ -n "$MODELS" ] || exit 0
PY=/usr/bin/python3
SET_ARGS=()
for s in ${SETS:-}; do SET_ARGS+=(--set "$s"); done

# recipe -> the --set value of a stages list with its train stage alone, for every epoch of the recipe
dense_stages() {
  "$PY" - "$1" <<'EOF2'
import json, sys, yaml
st = yaml.safe_load(open(sys.argv[1]))['stages']
epochs = sum(next(iter(s.values())).get('epochs', 0) for s in st if next(iter(s)) in ('train', 'finetune'))
t = dict(next(s['train'] for s in st if 'train' in s))
t['epochs'] = epochs
print(json.dumps([{'train': t}]))
EOF2
}

for m in $MODELS; do
  r=${m}_deep_compression
  if [ ! -f "$RUNS_DIR/$r/$r.mcz" ]; then
    "$BUILD/compress" --recipe "recipes/$r.yaml" "${SET_ARGS[@]}" --out "$RUNS_DIR/$r" -q
  fi
  if [ ! -f "$RUNS_DIR/${r}_dense/report.json" ]; then
    "$BUILD/compress" --recipe "recipes/$r.yaml" --set "stages=$(dense_stages "recipes/$r.yaml")" \
      --set "name=${m}_dense" "${SET_ARGS[@]}" --out "$RUNS_DIR/${r}_dense" -q
  fi
done

"$PY" - "$RUNS_DIR" $MODELS <<'EOF2'
import json, sys
runs, models = sys.argv[1], sys.argv[2:]
def stages(d): return json.load(open(d + '/report.json'))['stages']
rows, tables = [], []
for m in models:
    r = m + '_deep_compression'
    st, dense = stages(f'{runs}/{r}'), stages(f'{runs}/{r}_dense')
    epochs = sum(len(s['details']['epochs']) for s in st if s['stage'] in ('train', 'finetune'))
    a = next(s['details']['archive'] for s in st if 'archive' in s.get('details', {}))
    d, c = 100 * dense[-1]['metrics']['top1'], 100 * st[-1]['metrics']['top1']
    rows.append((m, epochs, d, c, d - c, a['file_bytes'], a['fp32_bytes'], a['ratio']))
    tables.append((m, a))
fmt = '%-12s %7s %10s %12s %7s %10s %10s %8s'
print(fmt % ('model', 'epochs', 'dense %', 'compressed %', 'gap pt', '.mcz B', 'fp32 B', 'ratio'))
for m, e, d, c, g, b, f, x in rows:
    print(fmt % (m, e, '%.2f' % d, '%.2f' % c, '%.2f' % g, b, f, '%.1fx' % x))
print('(top-1: our executor on the 10k test set; dense: the train stage alone for the recipe\'s epochs in all;')
print(' .mcz B: the save stage\'s archive on disk; fp32 B: every tensor of the model at 4 bytes)')
for m, a in tables:
    print()
    fmt = '%-12s %9s %9s %6s %6s %9s %8s %8s %8s %9s'
    print(fmt % (m, 'weights', 'non-zero', 'index', 'pos.', 'encoding', '-0.0s', 'huffman', 'bytes', 'rate'))
    print(fmt % ('', '', '%', 'bits', 'bits', '', '', 'gain', '', '% fp32'))
    w = nz = by = 0
    for l in a['layers']:
        dense_l = l['encoding'] == 'dense'
        print(fmt % (l['layer'], l['weights'], '%.1f' % (100 * l['nonzeros'] / l['weights']),
                     l['index_bits'] or '-', '-' if dense_l else l['position_bits'], l['encoding'],
                     l['negative_zeros'], '-' if dense_l else '%.2fx' % l['huffman_gain'], l['bytes'],
                     '%.2f' % (100 / l['ratio'])))
        w, nz, by = w + l['weights'], nz + l['nonzeros'], by + l['bytes']
    print(fmt % ('weights', w, '%.1f' % (100 * nz / w), '', '', '', '', '', by, '%.2f' % (100 * by / (4 * w))))
    print('base section (graph, metadata, biases; deflated): %d bytes; file %d bytes = %.2f %% of fp32 (%.1fx)'
          % (a['base_bytes'], a['file_bytes'], 100 / a['ratio'], a['ratio']))
EOF2
