#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs ctest (unit, parity
# with torchvision, sanitizer and CMake-consumer tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cmake/bootstrap.sh"
tlearn_install_dependencies
tlearn_configure
tlearn_build
cd "$TLEARN_BUILD"
ctest --output-on-failure --parallel "$(nproc)" --timeout 1500 "$@"
