#!/usr/bin/env bash
# Where the compile-time row's seconds go: wall time of each compile variant
# (ccache off) and GCC's -ftime-report phases for the one that includes
# tlearn/tlearn.hpp.
#   bash benchmarks/compile/profile.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../cmake/bootstrap.sh"
tlearn_install_dependencies
tlearn_configure

tlearn_build tlearn
for v in by_hand with_tlearn only_resnet implementation; do
  echo "$v: $(bash "$(dirname "${BASH_SOURCE[0]}")/time.sh" "$TLEARN_BUILD" "$v") s (one translation unit, ccache off)"
done

# The compiler command of with_tlearn.cpp, without ccache, with -ftime-report.
cmd=$(ninja -C "$TLEARN_BUILD" -t commands compile_with_tlearn | grep -- '-c .*with_tlearn.cpp' | sed 's/^ccache //')
report=$(mktemp)
trap 'rm -f "$report"' EXIT
(cd "$TLEARN_BUILD" && eval "$cmd -ftime-report") 2>"$report"
echo "-ftime-report of with_tlearn.cpp (share of the wall time):"
# A phase line: "name : usr ( n%) sys ( n%) wall ( n%) memory"; print the wall column.
awk -F: '/^ phase / { name = $1; sub(/^ phase /, "", name); sub(/ +$/, "", name)
                      n = split($2, f, /[()]/); if (n >= 6) printf "  %-16s %s s (%s)\n", name, f[5] + 0, f[6] }' "$report"
echo "  (-ftime-report itself slows the compile; the shares are what matters)"

# Object code of with_tlearn.cpp by origin (bytes of defined symbols).
obj=$(find "$TLEARN_BUILD/benchmarks/CMakeFiles/compile_with_tlearn.dir" -name 'with_tlearn.cpp.o' | head -1)
echo "object code of with_tlearn.cpp by origin:"
nm -C -S -t d --defined-only "$obj" | awk '
  NF >= 4 { size = $2 + 0; $1 = $2 = $3 = ""; s = $0
            if (s ~ /regex|std::__detail::_(Executor|Compiler|Scanner|NFA|BracketMatcher)/) k = "std::regex"
            else if (s ~ /nlohmann/) k = "nlohmann_json"
            else if (s ~ /tlearn::/) k = "tlearn"
            else if (s ~ /(torch|at|c10)::/) k = "LibTorch templates"
            else k = "other"
            total[k] += size; all += size }
  END { for (k in total) printf "  %7.0f KB (%2.0f%%)  %s\n", total[k] / 1024, 100 * total[k] / all, k }' | sort -rn
