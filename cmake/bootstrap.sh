#!/usr/bin/env bash
# Installs what tlearn needs on Debian 12 (when missing) and configures + builds
# the given targets in ./build. Sourced by tests/run.sh and examples/run.sh.
#
# TLEARN_TORCH picks the LibTorch:
#   debian (default)  Debian's libtorch-dev 1.13 and python3-torch; builds in ./build
#   pypi              the current torch wheel from PyPI (CUDA-enabled), in a virtual
#                     environment $TLEARN_BUILD/venv; builds in ./build-torch2. Needs a
#                     CUDA toolkit (nvcc) on the machine: the wheel's CMake config asks for it.
#
# TLEARN_COMPILER picks the compiler: gcc (default) or clang (Debian's clang 14 with
# its libFuzzer and sanitizer runtimes; builds in ./build-clang, Debian's LibTorch).
set -euo pipefail

TLEARN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TLEARN_TORCH=${TLEARN_TORCH:-debian}
TLEARN_COMPILER=${TLEARN_COMPILER:-gcc}
case $TLEARN_TORCH in
  debian) TLEARN_BUILD=${TLEARN_BUILD:-$TLEARN_ROOT/build} ;;
  pypi) TLEARN_BUILD=${TLEARN_BUILD:-$TLEARN_ROOT/build-torch2} ;;
  *) echo "tlearn: TLEARN_TORCH is debian or pypi, not '$TLEARN_TORCH'" >&2; return 1 ;;
esac
case $TLEARN_COMPILER in
  gcc) ;;
  clang)
    [ "$TLEARN_TORCH" = debian ] || { echo "tlearn: the clang lane uses Debian's LibTorch (TLEARN_TORCH=debian)" >&2; return 1; }
    [ "$TLEARN_BUILD" = "$TLEARN_ROOT/build" ] && TLEARN_BUILD=$TLEARN_ROOT/build-clang ;;
  *) echo "tlearn: TLEARN_COMPILER is gcc or clang, not '$TLEARN_COMPILER'" >&2; return 1 ;;
esac

# libopenblas0-pthread is not optional: without it LibTorch falls back to the
# reference BLAS and matrix products run 60x slower.
TLEARN_DEBIAN_PACKAGES=(
  cmake ninja-build g++ ccache pkg-config
  libopenblas0-pthread
  libeigen3-dev nlohmann-json3-dev libstb-dev zlib1g-dev
  libcurl4-openssl-dev libturbojpeg0-dev libhdf5-dev libgloo-dev
  catch2
  opencv-doc
  dataset-fashion-mnist
)
[ "$TLEARN_COMPILER" = clang ] && TLEARN_DEBIAN_PACKAGES+=(clang libclang-rt-14-dev)
if [ "$TLEARN_TORCH" = debian ]; then
  TLEARN_DEBIAN_PACKAGES+=(libtorch-dev python3 python3-venv python3-torch python3-torchvision
                           python3-pil python3-skimage python3-numpy python3-sklearn)
else
  TLEARN_DEBIAN_PACKAGES+=(python3 python3-venv)
fi
# The Python that runs the reference tests: the one whose torch matches the LibTorch,
# with timm (the training recipe's and timm weights' reference) and huggingface_hub
# (the Hub cache's) added. With Debian's LibTorch it sees Debian's packages and adds
# those alone; timm 1.0.31 runs on torch 1.13.
TLEARN_VENV=$TLEARN_BUILD/venv
TLEARN_TIMM_VERSION=1.0.31
TLEARN_HUB_PACKAGES=("huggingface_hub==2.4.0" "safetensors==0.8.0")

tlearn_install_dependencies() {
  local missing=()
  for p in "${TLEARN_DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "tlearn: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # The clang lane runs no Keras or training reference test.
  [ "$TLEARN_COMPILER" = clang ] && return 0
  tlearn_install_keras_reference
  "$TLEARN_VENV/bin/python" -c 'import torch, torchvision, PIL, skimage, numpy, sklearn, timm, huggingface_hub, safetensors' \
    2>/dev/null && return 0
  if [ "$TLEARN_TORCH" = debian ]; then
    echo "tlearn: installing timm $TLEARN_TIMM_VERSION ${TLEARN_HUB_PACKAGES[*]} in $TLEARN_VENV (on Debian's torch)"
    /usr/bin/python3 -m venv --system-site-packages "$TLEARN_VENV"
    "$TLEARN_VENV/bin/pip" install -q --no-deps "timm==$TLEARN_TIMM_VERSION"
    "$TLEARN_VENV/bin/pip" install -q "${TLEARN_HUB_PACKAGES[@]}"  # pure Python, and safetensors: no torch pulled in
    return 0
  fi
  echo "tlearn: installing torch torchvision numpy pillow scikit-image scikit-learn timm ${TLEARN_HUB_PACKAGES[*]} in $TLEARN_VENV"
  /usr/bin/python3 -m venv "$TLEARN_VENV"  # Debian's python3, never the system site-packages
  "$TLEARN_VENV/bin/pip" install -q torch torchvision numpy pillow scikit-image scikit-learn "timm==$TLEARN_TIMM_VERSION" \
    "${TLEARN_HUB_PACKAGES[@]}"
}

# Keras (JAX backend) and h5py, the reference of the Keras weight-file tests, in a
# virtual environment of their own: the library never needs them. Keras' answers do
# not depend on the LibTorch, so both lanes share it, and the JAX compilation cache
# keras_reference.py keeps beside it (build-keras/jax-cache).
TLEARN_KERAS_VENV=$TLEARN_ROOT/build-keras/venv
tlearn_install_keras_reference() {
  KERAS_BACKEND=jax "$TLEARN_KERAS_VENV/bin/python" -c 'import keras, jax, h5py, numpy' 2>/dev/null && return 0
  echo "tlearn: installing keras jax h5py numpy in $TLEARN_KERAS_VENV"
  /usr/bin/python3 -m venv "$TLEARN_KERAS_VENV"
  "$TLEARN_KERAS_VENV/bin/pip" install -q keras "jax[cpu]" h5py numpy
}

tlearn_configure() {
  local launcher=""
  command -v ccache >/dev/null && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  # ccache must accept precompiled headers.
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  export CCACHE_BASEDIR=$TLEARN_ROOT
  local torch_args=() site
  if [ "$TLEARN_TORCH" = pypi ]; then
    site=$("$TLEARN_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    # torch's own folder, not torch.utils.cmake_prefix_path (its share/cmake): from
    # there TorchConfig's find_library(torch) picks Debian's libtorch.so first.
    # The wheel's CUDA runtime, not the toolkit's: the toolkit's lib folder on the
    # link line holds an older NCCL that the wheel's libtorch_cuda.so fails to link
    # with; this way every CUDA library at run time is the wheel's too.
    torch_args=("-DCMAKE_PREFIX_PATH=$site/torch"
                "-DCUDA_cudart_LIBRARY=$(ls "$site"/nvidia/*/lib/libcudart.so.* | head -n 1)"
                "-DTLEARN_TEST_PYTHON=$TLEARN_VENV/bin/python"
                # tlearn uses no API this LibTorch deprecates (detail/compat.hpp).
                "-DCMAKE_CXX_FLAGS=-Werror=deprecated-declarations")
  fi
  [ "$TLEARN_TORCH" = debian ] && [ "$TLEARN_COMPILER" = gcc ] && torch_args=("-DTLEARN_TEST_PYTHON=$TLEARN_VENV/bin/python")
  local compiler_args=()
  [ "$TLEARN_COMPILER" = clang ] && compiler_args=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang)
  # tlearn's own targets build without a warning (CMakeLists.txt): here a warning fails the build.
  cmake -S "$TLEARN_ROOT" -B "$TLEARN_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTLEARN_WARNINGS_AS_ERRORS=ON $launcher "${torch_args[@]}" \
    "${compiler_args[@]}" "-DTLEARN_TEST_KERAS_PYTHON=$TLEARN_KERAS_VENV/bin/python" "$@" >/dev/null
}

tlearn_build() {
  cmake --build "$TLEARN_BUILD" --parallel "$(nproc)" ${1:+--target "$@"}
}
