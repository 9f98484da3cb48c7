#!/usr/bin/env bash
# The main job: installs dependencies, builds the examples, runs the transfer
# learning demo on Fashion-MNIST (offline; a few minutes on two cores).
# Output (pretrained weights, learning curves, CSV) goes to $TLEARN_BUILD/transfer_demo_out;
# the pretrained weights are reused on later runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cmake/bootstrap.sh"
tlearn_install_dependencies
tlearn_configure
tlearn_build summary transfer_demo
"$TLEARN_BUILD/examples/summary" vgg16 --no-top --input 150x150
"$TLEARN_BUILD/examples/transfer_demo" "$TLEARN_BUILD/transfer_demo_out" "$@"
