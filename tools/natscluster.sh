#!/bin/bash
# Usage: tools/natscluster.sh ROUNDS REPLICAS DIR [DIR...] -- BENCH_ARGS...
# Runs "DIR/dispatcher bench --nats URLS --nats-replicas REPLICAS BENCH_ARGS" against a
# three-node JetStream cluster of Debian's nats-server (apt-get install nats-server), each
# node its own process on 127.0.0.1 (client ports 14241-14243, routes 16241-16243). Every
# run gets a fresh cluster, so that no run inherits another's streams and consumers, and
# first makes the streams with a 5-sample pickup run, so that creating them is not in the
# figures. For each run it prints the round, the build, the bench's table rows and the
# CPU time the three nats-server processes used during it (user + system).
# The nodes share this machine's CPUs with the bench: on separate hosts a node's share of
# the work is the same, its latency lower.
# Build each tree's binaries into its DIR first (go build -o DIR/ ./cmd/...).
# Never run it alongside other work.
set -euo pipefail
usage() {
  sed -n '2,13p' "$0" >&2
  exit 2
}
[ $# -ge 4 ] || usage
rounds=$1 replicas=$2
shift 2
dirs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  dirs+=("$1")
  shift
done
[ $# -gt 0 ] || usage
shift
command -v nats-server >/dev/null || {
  echo "natscluster.sh: needs Debian's nats-server (apt-get install nats-server)" >&2
  exit 2
}
work=$(mktemp -d)
pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop; rm -rf "$work"' EXIT
urls=nats://127.0.0.1:14241,nats://127.0.0.1:14242,nats://127.0.0.1:14243
start() {
  rm -rf "$work"/n*
  for i in 1 2 3; do
    routes=()
    for j in 1 2 3; do [ "$j" = "$i" ] || routes+=("nats://127.0.0.1:1624$j"); done
    nats-server -js -n "n$i" -a 127.0.0.1 -p "1424$i" -sd "$work/n$i" --cluster_name taskfleet \
      --cluster "nats://127.0.0.1:1624$i" --routes "$(IFS=,; echo "${routes[*]}")" >"$work/n$i.log" 2>&1 &
    pids+=($!)
  done
  for i in 1 2 3; do
    for _ in $(seq 100); do grep -q "Server is ready" "$work/n$i.log" && break; sleep 0.1; done
  done
}
cputicks() {
  local t=0 p
  for p in "${pids[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
hz=$(getconf CLK_TCK)
for r in $(seq "$rounds"); do
  for d in "${dirs[@]}"; do
    start
    # The streams (and the metadata leader) first.
    for _ in $(seq 30); do
      "$d/dispatcher" bench --scenario pickup --samples 5 --nats "$urls" --nats-replicas "$replicas" >/dev/null 2>&1 && break
      sleep 1
    done
    t0=$(cputicks)
    out=$("$d/dispatcher" bench --nats "$urls" --nats-replicas "$replicas" "$@" 2>/dev/null)
    t1=$(cputicks)
    echo "$out" | grep -E '^(burndown|pickup|wait|create|fanout) ' | sed "s|^|$r $(basename "$d") R$replicas |"
    echo "$r $(basename "$d") R$replicas nats-server CPU $(((t1 - t0) * 1000 / hz)) ms"
    stop
  done
done
