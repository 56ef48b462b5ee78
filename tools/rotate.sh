#!/bin/bash
# Usage: tools/rotate.sh ROUNDS DIR_BASE DIR_B [DIR_C...] -- BENCH_ARGS...
# Runs "DIR/dispatcher bench BENCH_ARGS" for every build once per round, starting each
# round one build further along (round 1: B C... BASE, round 2: C... BASE B, ...), and
# prints each run's result rows prefixed with the round and the build, as tools/pairs.sh
# does. At the end, for each build against DIR_BASE, it prints the median of the per-round
# differences of the pickup rows' p50, p99 and Create call's p50 (µs) and of the burndown
# rows' tasks/s (positive: worse, that is higher or fewer), and in how many rounds the
# build was worse.
# Many short runs (say 15 rounds of --samples 300) resolve smaller differences than a few
# long ones: the machine's speed drifts from minute to minute, and a round keeps the builds
# within a minute of each other.
# Build each tree's binaries into its DIR first (go build -o DIR/ ./cmd/...).
# Never run it alongside other work.
set -euo pipefail
usage() {
  sed -n '2,14p' "$0" >&2
  exit 2
}
[ $# -ge 4 ] || usage
rounds=$1
shift
dirs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  dirs+=("$1")
  shift
done
[ $# -gt 0 ] || usage
shift
[ ${#dirs[@]} -ge 2 ] || usage
k=${#dirs[@]}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$rounds"); do
  for j in $(seq 0 $((k - 1))); do
    d=${dirs[$(((i + j) % k))]}
    res=$("$d/dispatcher" bench "$@" 2>&1)
    sed -n '/^SCENARIO/,$p' <<<"$res" | tail -n +2 | sed "s|^|$i $(basename "$d") |" | tee -a "$out"
  done
done
# Figures in microseconds (latencies) or tasks/s, per round and build.
awk -v base="$(basename "${dirs[0]}")" '
function us(s) {
  if (s ~ /µs$/) { sub(/µs$/, "", s); return s + 0 }
  if (s ~ /ms$/) { sub(/ms$/, "", s); return s * 1000 }
  if (s ~ /s$/) { sub(/s$/, "", s); return s * 1000000 }
  return s + 0
}
function median(a, n,    i, j, t) {
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$3 == "pickup" && $4 == "p50" {
  line = $0
  match(line, /[0-9.]+(µs|ms|s) \/ [0-9.]+(µs|ms|s) \/ [0-9.]+(µs|ms|s) \/ [0-9.]+(µs|ms|s)/)
  split(substr(line, RSTART, RLENGTH), v, " / ")
  match(line, /Create p50 [0-9.]+(µs|ms|s)/)
  c = substr(line, RSTART + 11, RLENGTH - 11)
  fig[$1, $2, "pickup p50 (µs)"] = us(v[1]); fig[$1, $2, "pickup p99 (µs)"] = us(v[3])
  fig[$1, $2, "Create p50 (µs)"] = us(c); builds[$2] = 1; names["pickup p50 (µs)"] = 1
  names["pickup p99 (µs)"] = 1; names["Create p50 (µs)"] = 1; last = $1 > last ? $1 : last
}
$3 == "burndown" && /tasks\/s/ {
  for (f = 4; f <= NF; f++) if ($(f + 1) == "tasks/s") { v1 = $f; gsub(/,/, "", v1); break }
  fig[$1, $2, "burndown tasks/s"] = -v1; builds[$2] = 1; names["burndown tasks/s"] = 1
  last = $1 > last ? $1 : last
}
END {
  print ""
  print "SUMMARY against " base ": median of the per-round differences (positive: worse), rounds worse"
  for (b in builds) {
    if (b == base) continue
    for (nm in names) {
      n = 0; worse = 0
      for (i = 1; i <= last; i++) {
        if (!((i, b, nm) in fig) || !((i, base, nm) in fig)) continue
        d[++n] = fig[i, b, nm] - fig[i, base, nm]
        if (d[n] > 0) worse++
      }
      if (n > 0) printf "%s  %-18s %+.0f  worse in %d of %d\n", b, nm, median(d, n), worse, n | "sort"
    }
  }
}' "$out"
