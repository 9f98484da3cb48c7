#!/usr/bin/env bash
# The clang lane: builds the library, the core and io tests and the libFuzzer
# targets with clang (./build-clang), runs those tests, and fuzzes each reader
# for TLEARN_FUZZ_SECONDS (20 by default) from its seed corpus.
set -euo pipefail
export TLEARN_COMPILER=clang
source "$(dirname "${BASH_SOURCE[0]}")/../cmake/bootstrap.sh"
tlearn_install_dependencies
tlearn_configure "-DTLEARN_FUZZ_SECONDS=${TLEARN_FUZZ_SECONDS:-20}"
tlearn_build tlearn tlearn_tests_core tlearn_tests_io tlearn_fuzz
cd "$TLEARN_BUILD"
ctest --output-on-failure --parallel "$(nproc)" --timeout 1500 -L '^(core|io|fuzz)$' "$@"
