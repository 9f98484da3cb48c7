#!/usr/bin/env bash
# Seconds to compile one translation unit of the compile-time row, ccache off,
# object file only (no link, and nothing else of the build redone):
#   bash benchmarks/compile/time.sh BUILD_DIR by_hand|with_tlearn|only_resnet|implementation [TREE]
# TREE: another checkout of the repository (a `git worktree add` of an older commit):
# the same compile command, reading that tree's headers and sources instead, for an
# A/B of a change's cost with one build folder.
# `implementation` is src/tlearn.cpp: tlearn's implementation unit, which a
# headers-only user compiles once in the file that defines TLEARN_IMPLEMENTATION.
set -euo pipefail
build=$1 variant=$2 tree=${3:-}
if [ "$variant" = implementation ]; then
  target=tlearn source=src/tlearn.cpp
else
  target=compile_$variant source=compile/$variant.cpp
fi
cmd=$(ninja -C "$build" -t commands "$target" | grep -- "-c .*$source" | tail -n 1 | sed 's/^[^ ]*ccache //')
[ -n "$cmd" ] || { echo "time.sh: no compile command for $source in $build" >&2; exit 1; }
obj=$(mktemp --suffix=.o)
trap 'rm -f "$obj"' EXIT
cmd=$(printf '%s' "$cmd" | sed -E "s# -o [^ ]+# -o $obj#; s# -MD -MT [^ ]+ -MF [^ ]+##")
if [ -n "$tree" ]; then
  here=$(cd "$(dirname "$0")/../.." && pwd) tree=$(cd "$tree" && pwd)
  cmd=$(printf '%s' "$cmd" | sed "s#$here/#$tree/#g")
fi
start=$(date +%s.%N)
(cd "$build" && eval "$cmd")
echo "$(date +%s.%N) - $start" | bc
