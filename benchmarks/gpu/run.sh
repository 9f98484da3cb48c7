#!/usr/bin/env bash
# GPU training throughput: tlearn's Trainer vs the same loop in PyTorch Python,
# resnet50 fine-tuning, images/s, side by side in one run.
#
# Builds against the LibTorch that ships inside a CUDA PyTorch wheel (its CMake
# config, torch.utils.cmake_prefix_path), so both sides use the same libraries.
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

TORCH_PREFIX=$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')
"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "this PyTorch has no CUDA device"; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
# Wheels are built with the pre-C++11 ABI or not; CMake's Torch config sets the flag for us.
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DTLEARN_BUILD_TESTS=OFF -DTLEARN_BUILD_EXAMPLES=OFF -DTLEARN_BUILD_BENCHMARKS=ON
cmake --build "$BUILD" --target train_throughput --parallel "$(nproc)"

echo "== channels_last + bf16 autocast =="
"$BUILD/benchmarks/train_throughput" resnet50 "$BATCH" "$SIZE" "$STEPS" 1 1
"$PYTHON" "$ROOT/benchmarks/gpu/train_reference.py" resnet50 "$BATCH" "$SIZE" "$STEPS" 1 1
echo "== fp32, NCHW =="
"$BUILD/benchmarks/train_throughput" resnet50 "$BATCH" "$SIZE" "$STEPS" 0 0
"$PYTHON" "$ROOT/benchmarks/gpu/train_reference.py" resnet50 "$BATCH" "$SIZE" "$STEPS" 0 0
