#!/usr/bin/env bash
# Where an optimized inference row's time goes, by library and by function:
# `perf record` on bench_models, sampling only the timed loop (model building,
# the reference pass and optimize_for_inference's probes are skipped with -D).
#   bash benchmarks/profile_perf.sh BUILD_DIR MODEL BATCH [bench_models options, e.g. --dtype bfloat16]
# Needs Linux perf (Debian's linux-perf). oneDNN's generated kernels show as "[JIT]".
set -euo pipefail
build=$1 model=$2 batch=$3
shift 3
bench="$build/benchmarks/bench_models"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The setup's length, measured: one run with two timed passes.
start=$(date +%s%N)
OMP_NUM_THREADS=2 "$bench" inference "$model" "$batch" --optimized --threads 2 --repeats 2 "$@" > /dev/null
setup_ms=$(( ($(date +%s%N) - start) / 1000000 + 1000 ))
OMP_NUM_THREADS=2 perf record -q -D "$setup_ms" -F 299 -o "$out/perf.data" \
  "$bench" inference "$model" "$batch" --optimized --threads 2 --repeats 60 "$@" > /dev/null 2>&1
echo "== $model batch $batch $*: share of samples by library =="
perf report -i "$out/perf.data" --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9.]+%' | head -6
echo "== by function, oneDNN's JIT kernels left out =="
perf report -i "$out/perf.data" --no-children --sort dso,symbol 2>/dev/null | grep -E '^ +[0-9.]+%' |
  grep -v '\[JIT\]' | cut -c1-240 | head -8
