#!/usr/bin/env bash
# Installs every Debian package and npm package the project needs.
# Idempotent: returns quickly when everything is already there. Runs as root without a TTY.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  build-essential cmake ccache pkg-config
  clang libclang-rt-14-dev
  libtorch-dev libopenblas0-pthread
  libyaml-cpp-dev libspdlog-dev libfmt-dev libopencv-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  libcli11-dev nlohmann-json3-dev libgtest-dev zlib1g-dev libgloo-dev
  dataset-fashion-mnist
  python3-torch python3-torchvision python3-onnx python3-numpy
  nodejs npm
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  # node/npm may come from elsewhere (not Debian); skip them if a node is on PATH.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    filtered=()
    for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
    missing=("${filtered[@]}")
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

# LibTorch's matmul must use OpenBLAS (pthread), not the reference BLAS (~28x slower).
if command -v update-alternatives >/dev/null; then
  for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
    target=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-pthread | head -n1 || true)
    if [ -n "$target" ]; then
      current=$(readlink -f "/etc/alternatives/$alt" 2>/dev/null || true)
      if [ "$current" != "$(readlink -f "$target")" ]; then
        $SUDO update-alternatives --set "$alt" "$target" >/dev/null
      fi
    fi
  done
fi

# ONNX Runtime (test oracle), from npm. --ignore-scripts: its install script tries a download.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$here/tests/ort/package.json" ] && [ ! -d "$here/tests/ort/node_modules/onnxruntime-node" ]; then
  echo "install-deps: npm install onnxruntime-node in tests/ort"
  (cd "$here/tests/ort" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
