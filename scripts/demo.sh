#!/usr/bin/env bash
# `make demo`: trains ResNet-8 on Fashion-MNIST (recipes/resnet8_demo_train.yaml, 5 epochs),
# compresses it with recipes/resnet8_demo.yaml (depth + channel pruning, distilled fine-tune,
# INT8 PTQ, QDQ export) and prints one before/after table measured in ONNX Runtime.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
TRAINED=runs/resnet8_demo_train
DEMO=runs/resnet8_demo
"$BUILD/compress" --recipe recipes/resnet8_demo_train.yaml --out "$TRAINED"
echo
"$BUILD/compress" --recipe recipes/resnet8_demo.yaml --out "$DEMO"
echo
echo "ResNet-8 on Fashion-MNIST (10,000 test images), before and after recipes/resnet8_demo.yaml:"
node scripts/demo_table.js "$DEMO"
echo
echo "report: $DEMO/report.html (open it in a browser; also report.md and report.json)"
echo "trained model: $TRAINED/resnet8_demo_train.mcm; compressed: $DEMO/resnet8_demo_int8.onnx"
