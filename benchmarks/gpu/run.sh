#!/usr/bin/env bash
# GPU training throughput: tlearn's Trainer vs the same loop in PyTorch Python,
# resnet50 fine-tuning, images/s, side by side in one run.
#
# Builds against the LibTorch that ships inside a CUDA PyTorch wheel (the wheel's
# torch folder as CMAKE_PREFIX_PATH, see README "Choosing a LibTorch"), so both
# sides use the same libraries; runs the `cuda` test label first.
#
#     benchmarks/gpu/run.sh [batch=64] [size=224] [steps=50]
#
# Needs: a CUDA PyTorch wheel for `python3` (pip install torch torchvision), cmake,
# ninja or make, a C++17 compiler, and tlearn's other dependencies (see
# cmake/bootstrap.sh; run tlearn_install_dependencies first on Debian). Needs the
# resnet family (models branch) registered under "resnet50".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-python3}
BATCH=${1:-64} SIZE=${2:-224} STEPS=${3:-50}
BUILD=${TLEARN_GPU_BUILD:-$ROOT/build-gpu}

# torch's own folder: from torch.utils.cmake_prefix_path a system libtorch may be found first.
TORCH_PREFIX=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
CUDART=$(ls "$(dirname "$TORCH_PREFIX")"/nvidia/*/lib/libcudart.so.* 2>/dev/null | head -n 1 || true)
"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "this PyTorch has no CUDA device"; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
# Wheels are built with the pre-C++11 ABI or not; CMake's Torch config sets the flag for us.
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  ${CUDART:+-DCUDA_cudart_LIBRARY="$CUDART"} -DTLEARN_TEST_PYTHON="$(command -v "$PYTHON")" \
  -DTLEARN_BUILD_TESTS=ON -DTLEARN_BUILD_EXAMPLES=OFF -DTLEARN_BUILD_BENCHMARKS=ON
cmake --build "$BUILD" --target tlearn_tests_cuda train_throughput --parallel "$(nproc)"

echo "== the cuda test label =="
(cd "$BUILD" && ctest -L cuda --output-on-failure)

for model in resnet50 efficientnet_b0; do
  echo "== $model, channels_last + bf16 autocast =="
  "$BUILD/benchmarks/train_throughput" "$model" "$BATCH" "$SIZE" "$STEPS" 1 1
  "$PYTHON" "$ROOT/benchmarks/gpu/train_reference.py" "$model" "$BATCH" "$SIZE" "$STEPS" 1 1
  echo "== $model, fp32, NCHW =="
  "$BUILD/benchmarks/train_throughput" "$model" "$BATCH" "$SIZE" "$STEPS" 0 0
  "$PYTHON" "$ROOT/benchmarks/gpu/train_reference.py" "$model" "$BATCH" "$SIZE" "$STEPS" 0 0
done
