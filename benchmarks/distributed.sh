#!/usr/bin/env bash
# Data-parallel training on this machine's CPUs: one process (1 and 2 threads)
# against two processes of one thread each (tlearn-run, Gloo on 127.0.0.1),
# with what each step all-reduces and how much of it backward hides.
#   bash benchmarks/distributed.sh [MODEL...]      (default: resnet18 resnet50)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cmake/bootstrap.sh"
tlearn_install_dependencies
tlearn_configure
tlearn_build bench_distributed tlearn-run
bench=$TLEARN_BUILD/benchmarks/bench_distributed
models=("$@")
[ ${#models[@]} -eq 0 ] && models=(resnet18 resnet50)
batch=16
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for m in "${models[@]}"; do
  echo "$m: 1 process x 1 thread, 1 x 2, 2 x 1" >&2
  OMP_NUM_THREADS=1 "$bench" "$m" $((2 * batch)) >>"$rows"
  OMP_NUM_THREADS=2 "$bench" "$m" $((2 * batch)) >>"$rows"
  "$TLEARN_BUILD/tlearn-run" -n 2 "$bench" "$m" $batch >>"$rows"
done
python3 - "$rows" <<'PY'
import json, platform, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
import os
print(f"Machine: {cpu}, {os.cpu_count()} cores, LibTorch {rows[0]['libtorch']}; command: bash benchmarks/distributed.sh")
print("Batch 32 per step (2 x 16 with two processes), 64x64 inputs, SGD, BatchNorm frozen.\n")
print("| model | processes x threads | images/s | all-reduce MB/step | buckets (started in backward) | all-reduce alone s | waited after backward s | hidden |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    if r["processes"] > 1:
        hidden = max(0.0, 1 - r["waited_after_backward_s"] / r["allreduce_alone_s"]) if r["allreduce_alone_s"] else 0
        comm = (f'{r["allreduce_mb_per_step"]:.1f} | {r["buckets_per_step"]} ({r["buckets_started_in_backward"]:.0%}) | '
                f'{r["allreduce_alone_s"]:.3f} | {r["waited_after_backward_s"]:.3f} | {hidden:.0%}')
    else:
        comm = "- | - | - | - | -"
    print(f'| {r["model"]} | {r["processes"]} x {r["threads"]} | {r["images_per_s"]:.1f} | {comm} |')
PY
