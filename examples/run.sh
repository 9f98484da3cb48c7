#!/usr/bin/env bash
# The main job: installs dependencies, builds the examples, runs the demo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cmake/bootstrap.sh"
tlearn_install_dependencies
tlearn_configure
tlearn_build summary
"$TLEARN_BUILD/examples/summary" vgg16 --no-top --input 150x150
