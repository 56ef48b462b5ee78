#!/bin/bash
# Usage: tools/pairs.sh N DIR_A DIR_B BENCH_ARGS...
# Runs "DIR/dispatcher bench BENCH_ARGS" for two builds N times each, alternating
# and swapping the order every pair (A B, B A, ...), and prints each run's result
# table (the rows after the SCENARIO header) prefixed with the pair and the build,
# and the first and the last progress lines of a scenario that prints them (create:
# the rates of the first and the last two seconds).
# Build each tree's binaries into its DIR first (go build -o DIR/ ./cmd/...).
# Never run it alongside other work: the figures are only comparable within a pair.
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,9p' "$0" >&2
  exit 2
fi
n=$1 a=$2 b=$3
shift 3
for i in $(seq 1 "$n"); do
  order="$a $b"
  if [ $((i % 2)) = 0 ]; then order="$b $a"; fi
  for d in $order; do
    out=$("$d/dispatcher" bench "$@" 2>&1)
    {
      grep -E 'tasks/s \[' <<<"$out" | sed -n '1p;$p' || true
      sed -n '/^SCENARIO/,$p' <<<"$out" | tail -n +2
    } | sed "s|^|$i $(basename "$d") |"
  done
done
