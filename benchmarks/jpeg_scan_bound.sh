#!/usr/bin/env bash
# What ImageReadOptions::max_jpeg_scans (100) bounds: the CPU a progressive JPEG can
# cost at the pixel limit. Writes a 12000x12000 grayscale image (144 MP, under the
# 179 MP limit) as a progressive JPEG with 100 scans, the most the limit lets through
# (and cjpeg's own maximum), and with libjpeg's default 10-scan script, then times
# libjpeg-turbo's decoder (the library tlearn's JPEG path calls) on both.
# Needs Debian's libjpeg-turbo-progs (cjpeg, djpeg). Usage: bash benchmarks/jpeg_scan_bound.sh [DIR]
set -euo pipefail
command -v cjpeg >/dev/null && command -v djpeg >/dev/null ||
  { echo "jpeg_scan_bound: needs cjpeg and djpeg: apt-get install libjpeg-turbo-progs" >&2; exit 1; }
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
cd "$dir"

python3 - <<'PY'
# Squares of two grey levels: compresses to well under a megabyte, as a bomb would.
side, cell = 12000, 600
rows = [bytes(100 + 40 * ((band + c // cell) % 2) for c in range(side)) for band in (0, 1)]
with open("big.pgm", "wb") as f:
    f.write(b"P5\n%d %d\n255\n" % (side, side))
    for r in range(side):
        f.write(rows[(r // cell) % 2])
# 100 scans: DC in two passes, every AC band on its own, the first 35 bands refined.
scans = ["0: 0 0 0 1;", "0: 0 0 1 0;"] + [f"0: {k} {k} 0 1;" for k in range(1, 64)]
scans += [f"0: {k} {k} 1 0;" for k in range(1, 36)]
open("scans100.txt", "w").write("\n".join(scans) + "\n")
PY
cjpeg -grayscale -progressive -outfile scans10.jpg big.pgm
cjpeg -grayscale -scans scans100.txt -outfile scans100.jpg big.pgm
TIMEFORMAT="  %U s user CPU, %R s wall"
for f in scans10.jpg scans100.jpg; do
  echo "$f: $(stat -c %s "$f") bytes, 144 MP; djpeg:"
  time djpeg -outfile /dev/null "$f"
done
