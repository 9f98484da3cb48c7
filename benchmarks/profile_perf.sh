#!/usr/bin/env bash
# Where a benchmark row's time goes, by library and by function: `perf record`
# on bench_models, sampling only the timed loop (model building, the reference
# pass and optimize_for_inference's probes are skipped with -D).
#   bash benchmarks/profile_perf.sh BUILD_DIR [inference|train] MODEL BATCH [bench_models options]
# e.g. `... build-torch2 resnet50 32 --dtype bfloat16` (an optimized inference row,
# the default) or `... build-torch2 train resnet50 32 --freeze-half` (a training step).
# Needs Linux perf (Debian's linux-perf). oneDNN's generated kernels show as "[JIT]".
set -euo pipefail
build=$1
shift
mode=inference
if [ "$1" = inference ] || [ "$1" = train ]; then mode=$1; shift; fi
model=$1 batch=$2
shift 2
bench="$build/benchmarks/bench_models"
args=("$mode" "$model" "$batch" --threads 2)
[ "$mode" = inference ] && args+=(--optimized)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The setup's length, measured: one run with two timed passes.
start=$(date +%s%N)
speed=$(OMP_NUM_THREADS=2 "$bench" "${args[@]}" --repeats 2 "$@" | sed -n 's/.*"images_per_s": \([0-9.e+]*\).*/\1/p')
setup_ms=$(( ($(date +%s%N) - start) / 1000000 + 1000 ))
# Enough passes for about 15 s of samples after the delay (fast rows at batch 1 need hundreds).
repeats=$(awk -v s="$speed" -v b="$batch" 'BEGIN { r = int(15 * s / b) + 1; print (r < 10 ? 10 : r) }')
OMP_NUM_THREADS=2 perf record -q -D "$setup_ms" -F 299 -o "$out/perf.data" \
  "$bench" "${args[@]}" --repeats $repeats "$@" > /dev/null 2>&1
echo "== $mode $model batch $batch $*: share of samples by library =="
perf report -i "$out/perf.data" --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9.]+%' | head -6
echo "== by function, oneDNN's JIT kernels left out =="
perf report -i "$out/perf.data" --no-children --sort dso,symbol 2>/dev/null | grep -E '^ +[0-9.]+%' |
  grep -v '\[JIT\]' | cut -c1-240 | head -8
