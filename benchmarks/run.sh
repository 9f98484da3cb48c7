#!/usr/bin/env bash
# Runs tlearn's benchmarks beside the ways Python users run the same models for
# speed, on the same machine and LibTorch, 2 threads, same inputs; prints one table
# from one run (each Python variant its own column) and writes it to
# benchmarks/results.md (results-quick.md for --quick; results-libtorch1.md on
# Debian's LibTorch).
#   bash benchmarks/run.sh [--quick]                  Debian's LibTorch 1.13
#   TLEARN_TORCH=pypi bash benchmarks/run.sh [--quick] today's LibTorch (adds torch.compile)
# --quick: two models, batch 1 and 8. TLEARN_BENCH_MODELS and TLEARN_BENCH_DTYPES
# (float32 bfloat16) choose the inference rows.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cmake/bootstrap.sh"
tlearn_install_dependencies
tlearn_configure
tlearn_build summary bench_models bench_load_checkpoint data_pipeline feature_extraction
B=$TLEARN_BUILD/benchmarks
PY=$TLEARN_VENV/bin/python  # its torch is the LibTorch tlearn links
HERE=$TLEARN_ROOT/benchmarks
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export OMP_NUM_THREADS=2
rows=$TLEARN_BUILD/benchmark_rows.jsonl  # the raw numbers, kept for a second look
: >"$rows"
lane=""
if [ "$TLEARN_TORCH" = pypi ]; then lane="TLEARN_TORCH=pypi "; fi
command_line="${lane}bash benchmarks/run.sh${*:+ $*}"

# ONNX Runtime (and, for torch 2.x's exporter, onnx and onnxscript): benchmark-only
# references, in the lane's virtual environment.
if ! "$PY" -c 'import onnxruntime' 2>/dev/null; then
  echo "tlearn: installing onnxruntime in $TLEARN_VENV (benchmark reference)"
  if [ "$TLEARN_TORCH" = pypi ]; then "$TLEARN_VENV/bin/pip" install -q onnxruntime onnx onnxscript
  else "$TLEARN_VENV/bin/pip" install -q onnxruntime; fi
fi

quick=0
[ "${1:-}" = "--quick" ] && quick=1
inference_models=${TLEARN_BENCH_MODELS:-"resnet18 resnet50 mobilenet_v2 efficientnet_b0 densenet121 vgg16 vit_b_16"}
train_models="resnet50 mobilenet_v2 efficientnet_b0 vit_b_16"
batches="1 32"
if [ $quick = 1 ]; then inference_models="resnet18 mobilenet_v2"; train_models="mobilenet_v2"; batches="1 8"; fi
# bf16 rows where the CPU has bf16 arithmetic (AVX-512 BF16 or AMX).
bf16=""
grep -qw -E 'avx512_bf16|amx_bf16' /proc/cpuinfo && bf16=bfloat16
dtypes=${TLEARN_BENCH_DTYPES:-"float32 $bf16"}
compile=""
"$PY" -c 'import torch, sys; sys.exit(0 if hasattr(torch, "compile") else 1)' && compile=compile

"$PY" - "$command_line" >>"$rows" <<'EOF'
import json, os, platform, subprocess, sys
import torch
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
try:
    import onnxruntime
    ort = onnxruntime.__version__
except ImportError:
    ort = "absent"
libtorch = torch.__version__
if torch.__version__.startswith("1.13"):
    libtorch = "Debian " + subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libtorch-dev"],
                                          capture_output=True, text=True).stdout + " (OpenBLAS)"
print(json.dumps({"mode": "machine", "cpu": cpu, "cores": os.cpu_count(), "libtorch": libtorch,
                  "torch": torch.__version__, "onnxruntime": ort, "command": sys.argv[1]}))
EOF

registered=$("$TLEARN_BUILD/examples/summary" --list 2>/dev/null || true)
has() { grep -qx "$1" <<<"$registered"; }
python_row() {  # a Python variant that fails (an exporter or compiler that cannot take a model) leaves its cell empty
  timeout 1200 "$PY" "$HERE/models.py" "$@" >>"$rows" 2>"$OUT/err" || { echo "  python $* failed: $(tail -n 1 "$OUT/err")" >&2; }
}

for m in $inference_models; do
  has "$m" || { echo "skip $m: not registered"; continue; }
  for dtype in $dtypes; do
    variants="eager torchscript $compile"
    [ "$dtype" = float32 ] && variants+=" onnxruntime"  # ONNX Runtime's CPU kernels are fp32
    for b in $batches; do
      echo "inference $m batch $b $dtype" >&2
      for v in $variants; do python_row inference "$m" "$b" --variant "$v" --dtype "$dtype"; done
      "$B/bench_models" inference "$m" "$b" --dtype "$dtype" --optimized >>"$rows"  # the table's tlearn column
    done
  done
done
tb=32; [ $quick = 1 ] && tb=8
for m in $train_models; do
  has "$m" || { echo "skip $m: not registered"; continue; }
  for freeze in "" --freeze-half; do
    echo "train $m batch $tb $freeze" >&2
    python_row train "$m" $tb $freeze --variant eager
    # Python tuned as tlearn's Trainer is: channels-last, freed memory kept (glibc's knob).
    for v in channels_last $compile; do MALLOC_MMAP_MAX_=0 python_row train "$m" $tb $freeze --variant $v; done
    "$B/bench_models" train "$m" $tb $freeze >>"$rows"
  done
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

results=$HERE/results.md
if [ "$TLEARN_TORCH" != pypi ]; then results=$HERE/results-libtorch1.md
elif [ $quick = 1 ]; then results=$HERE/results-quick.md; fi  # the full run's table stays
$PY "$HERE/table.py" "$rows" | tee "$results"

# Programs that print their own side-by-side tables.
decoders=pil
"$PY" -c 'import torchvision.transforms.v2' 2>/dev/null && decoders=pil,tensor
{
  echo; echo "Data pipeline (decode + resize + augment + batch, 2 workers; Python: DataLoader with PIL + torchvision"
  echo "transforms, and with torchvision.io.decode_jpeg + transforms v2 where torchvision has them):"; echo
  echo '```'
  "$B/data_pipeline" --folder "${TLEARN_BENCH_PHOTOS:-/tmp/tlearn_bench_photos}" --workers 2 --rounds 2 \
    --python "$PY" --decoders $decoders | grep -E '^(JPEG|pipeline|train|eval)'
  echo '```'
} | tee -a "$results"
{ echo; echo "Feature extraction against end-to-end training with a frozen base (median of 8 epochs after the first):"
  echo; echo '```'
  "$B/feature_extraction" | grep -v '^head epochs'; echo '```'; } | tee -a "$results"
