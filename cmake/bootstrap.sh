#!/usr/bin/env bash
# Installs what tlearn needs on Debian 12 (when missing) and configures + builds
# the given targets in ./build. Sourced by tests/run.sh and examples/run.sh.
set -euo pipefail

TLEARN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TLEARN_BUILD=${TLEARN_BUILD:-$TLEARN_ROOT/build}

# libopenblas0-pthread is not optional: without it LibTorch falls back to the
# reference BLAS and matrix products run 60x slower.
TLEARN_DEBIAN_PACKAGES=(
  cmake ninja-build g++ ccache pkg-config
  libtorch-dev libopenblas0-pthread
  libeigen3-dev nlohmann-json3-dev libstb-dev zlib1g-dev
  libcurl4-openssl-dev libturbojpeg0-dev
  catch2
  python3 python3-torch python3-torchvision python3-pil python3-skimage python3-numpy
  opencv-doc
  dataset-fashion-mnist
)

tlearn_install_dependencies() {
  local missing=()
  for p in "${TLEARN_DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "tlearn: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

tlearn_configure() {
  local launcher=""
  command -v ccache >/dev/null && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  # ccache must accept precompiled headers.
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  export CCACHE_BASEDIR=$TLEARN_ROOT
  cmake -S "$TLEARN_ROOT" -B "$TLEARN_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release $launcher "$@" >/dev/null
}

tlearn_build() {
  cmake --build "$TLEARN_BUILD" --parallel "$(nproc)" ${1:+--target "$@"}
}
