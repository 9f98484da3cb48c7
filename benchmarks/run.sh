#!/usr/bin/env bash
# Runs tlearn's benchmarks beside their PyTorch Python twins, same machine, same
# LibTorch build (Debian 1.13), 2 threads, same inputs; prints the table of
# ratios and writes it to benchmarks/results.md.
#   bash benchmarks/run.sh [--quick]     (--quick: batch 1 and one model per row)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cmake/bootstrap.sh"
tlearn_install_dependencies
tlearn_configure
tlearn_build summary bench_models bench_load_checkpoint
B=$TLEARN_BUILD/benchmarks
PY=/usr/bin/python3
HERE=$TLEARN_ROOT/benchmarks
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMP_NUM_THREADS=2
rows=$OUT/rows.jsonl

quick=0
[ "${1:-}" = "--quick" ] && quick=1
inference_models="resnet18 resnet50 mobilenet_v2 efficientnet_b0 densenet121 vgg16"
train_models="resnet50 mobilenet_v2 efficientnet_b0"
batches="1 32"
if [ $quick = 1 ]; then inference_models="resnet18 mobilenet_v2"; train_models="mobilenet_v2"; batches="1 8"; fi

registered=$("$TLEARN_BUILD/examples/summary" --list 2>/dev/null || true)
has() { grep -qx "$1" <<<"$registered"; }

for m in $inference_models; do
  has "$m" || { echo "skip $m: not registered"; continue; }
  for b in $batches; do
    echo "inference $m batch $b" >&2
    $PY "$HERE/models.py" inference "$m" "$b" >>"$rows"
    "$B/bench_models" inference "$m" "$b" >>"$rows"
    "$B/bench_models" inference "$m" "$b" --optimized >>"$rows"
  done
done
tb=32; [ $quick = 1 ] && tb=8
for m in $train_models; do
  has "$m" || { echo "skip $m: not registered"; continue; }
  echo "train $m batch $tb" >&2
  $PY "$HERE/models.py" train "$m" $tb >>"$rows"
  "$B/bench_models" train "$m" $tb >>"$rows"
  $PY "$HERE/models.py" train "$m" $tb --freeze-half >>"$rows"
  "$B/bench_models" train "$m" $tb --freeze-half >>"$rows"
done

echo "checkpoint load vgg16" >&2
$PY "$HERE/load_checkpoint.py" write vgg16 "$OUT/vgg16.pth"
for i in 1 2 3; do  # table.py takes the medians
  $PY "$HERE/load_checkpoint.py" vgg16 "$OUT/vgg16.pth" >>"$rows"
  "$B/bench_load_checkpoint" vgg16 "$OUT/vgg16.pth" >>"$rows"
done
echo "{\"file_mb\": $(( $(stat -c %s "$OUT/vgg16.pth") / 1048576 ))}" >>"$rows"
rm -f "$OUT/vgg16.pth"

echo "compile time" >&2
tlearn_build tlearn  # the library is built; the rows time one translation unit each
for round in 1 2 3; do  # table.py takes the medians
  for v in with_tlearn by_hand; do
    echo "{\"mode\": \"compile\", \"impl\": \"$v\", \"seconds\": $(bash "$HERE/compile/time.sh" "$TLEARN_BUILD" "$v")}" >>"$rows"
  done
done

cp "$rows" "$TLEARN_BUILD/benchmark_rows.jsonl"  # the raw numbers, kept for a second look
$PY "$HERE/table.py" "$rows" | tee "$HERE/results.md"

# Programs that print their own side-by-side tables.
tlearn_build data_pipeline
{
  echo; echo "Data pipeline (decode + resize + augment + batch, 2 workers, against torchvision + PIL + DataLoader):"; echo
  echo '```'
  "$B/data_pipeline" --folder "${TLEARN_BENCH_PHOTOS:-/tmp/tlearn_bench_photos}" --workers 2 --rounds 2 | tail -4
  echo '```'
} | tee -a "$HERE/results.md"
if cmake --build "$TLEARN_BUILD" --target feature_extraction >/dev/null 2>&1; then
  { echo; echo "Feature extraction against end-to-end training with a frozen base:"; echo; echo '```'
    "$B/feature_extraction"; echo '```'; } | tee -a "$HERE/results.md"
fi
