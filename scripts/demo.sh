#!/usr/bin/env bash
# `make demo`: trains ResNet-8 on Fashion-MNIST with the shipped recipe and prints the report
# (the top of report.md, and the path of report.html).
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
OUT=runs/fmnist_resnet8
"$BUILD/compress" --recipe recipes/fmnist_resnet8.yaml --out "$OUT"
echo
sed -n '1,40p' "$OUT/report.md"
echo
echo "report: $OUT/report.html (open it in a browser; also report.md and report.json); model: $OUT/resnet8_fmnist.mcm"
