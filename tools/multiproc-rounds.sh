#!/bin/bash
# Usage: tools/multiproc-rounds.sh ROUNDS LABEL=DIR[:BENCH_ARGS] LABEL=DIR[:BENCH_ARGS]...
# Runs "DIR/dispatcher bench --scenario multiproc -n 100000 BENCH_ARGS -o json" once per
# variant and round, starting each round one variant further along, and prints one line per
# run: the round, the label, the rates of the three runs (one process, several on one file,
# several on a file each), the two ratios, the GOMAXPROCS the several processes reported,
# CPU per task and steal. At the end, per label, the median ratio and the runs at or above
# the 0.9 target. Variants may share a DIR with different BENCH_ARGS, e.g.
#   tools/multiproc-rounds.sh 6 share=bin "default=bin:--proc-cpus -1"
# Never run it alongside other work.
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,9p' "$0" >&2
  exit 2
fi
rounds=$1
shift
variants=("$@")
k=${#variants[@]}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$rounds"); do
  for j in $(seq 0 $((k - 1))); do
    spec=${variants[$(((i + j) % k))]}
    label=${spec%%=*}
    rest=${spec#*=}
    dir=${rest%%:*}
    args=()
    if [[ "$rest" == *:* ]]; then
      read -r -a args <<<"${rest#*:}"
    fi
    "$dir/dispatcher" bench --scenario multiproc -n 100000 "${args[@]}" -o json 2>/dev/null |
      python3 -c '
import json, sys
m = json.load(sys.stdin)["multiproc"]
o, n, a = m["one"], m["many"], m["apart"]
print("%s %s one %.0f many %.0f apart %.0f ratio %.3f apart_ratio %.3f gomaxprocs %d cpu_us one %.0f many %.0f steal %.0f%%" % (
    sys.argv[1], sys.argv[2], o["tasks_per_sec"], n["tasks_per_sec"], a["tasks_per_sec"], m["ratio"],
    m["apart_ratio"], n["gomaxprocs_each"], o["cpu_per_task_us"], n["cpu_per_task_us"], n["steal_pct"]))
' "$i" "$label" | tee -a "$out"
  done
done
echo
python3 - "$out" <<'PY'
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    f = line.split()
    by.setdefault(f[1], []).append(float(f[f.index("ratio") + 1]))
for label, rs in by.items():
    print("%s: median ratio %.2f over %d runs (%.2f–%.2f), %d at or above 0.90" % (
        label, statistics.median(rs), len(rs), min(rs), max(rs), sum(r >= 0.9 for r in rs)))
PY
