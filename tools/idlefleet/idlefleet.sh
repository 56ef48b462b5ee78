#!/usr/bin/env bash
# Measure what an idle fleet costs its store: N real worker processes on a
# pool holding one task of a kind none of them runs, for WINDOW seconds
# after a warm-up. Prints store operations per second by operation (from
# the workers' taskfleet_store_operation_duration_seconds_count), the
# seconds the workers spent in store calls (the histograms' sums), the
# workers' CPU, and with MongoDB the Mongo-wire test server's CPU.
#
#   tools/idlefleet/idlefleet.sh [-n 50] [-s sqlite|mongo] [-e nats|none] [-w 20] [-b BIN_DIR]
#
# BIN_DIR holds dispatcher and worker (default: built into a temporary
# directory). -s mongo needs MONGOTESTSERVER_BIN (a built
# tools/mongotestserver) and -e nats Debian's nats-server on PATH.
set -euo pipefail

n=50 store=sqlite ev=nats window=20 bin=""
while getopts "n:s:e:w:b:" o; do
	case $o in
	n) n=$OPTARG ;; s) store=$OPTARG ;; e) ev=$OPTARG ;; w) window=$OPTARG ;; b) bin=$OPTARG ;;
	*) echo "usage: $0 [-n workers] [-s sqlite|mongo] [-e nats|none] [-w seconds] [-b bin-dir]" >&2; exit 2 ;;
	esac
done
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
if [[ -z $bin ]]; then
	bin=$dir/bin
	go build -o "$bin/" ./cmd/dispatcher ./cmd/worker
fi
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

case $store in
sqlite) uri=sqlite://$dir/tasks.db ;;
mongo)
	port=$(freeport)
	mkdir -p "$dir/mongo"; "${MONGOTESTSERVER_BIN:?set MONGOTESTSERVER_BIN}" -listen "127.0.0.1:$port" -dir "$dir/mongo" >"$dir/mongo.log" 2>&1 &
	mpid=$!
	pids+=("$mpid")
	uri="mongodb://127.0.0.1:$port/"
	for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null && break; sleep 0.1; done
	;;
*) echo "-s: want sqlite or mongo" >&2; exit 2 ;;
esac
natsflags=()
if [[ $ev == nats ]]; then
	nport=$(freeport)
	nats-server -js -a 127.0.0.1 -p "$nport" -sd "$dir/js" >"$dir/nats.log" 2>&1 &
	pids+=("$!")
	natsflags=(--nats "nats://127.0.0.1:$nport")
	for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$nport))" 2>/dev/null && break; sleep 0.1; done
fi

echo '[{"kind":"nobody","def":{"i":1}}]' >"$dir/task.json"
"$bin/dispatcher" create --store "$uri" --pool idle -f "$dir/task.json" >/dev/null 2>&1
addrs=()
for i in $(seq "$n"); do
	p=$(freeport)
	addrs+=("127.0.0.1:$p")
	"$bin/worker" --store "$uri" --pool idle --kinds noop "${natsflags[@]}" --owner "idle-$i" --metrics-addr "127.0.0.1:$p" --log-level warn >>"$dir/workers.log" 2>&1 &
	pids+=("$!")
done
sleep 10 # start-up: every worker's first claims and registration

scrape() { # prints: op count sum, summed over the workers; then "cpu" seconds
	for a in "${addrs[@]}"; do curl -s "http://$a/metrics"; done | awk '
		/^taskfleet_store_operation_duration_seconds_count/ { match($0, /op="[^"]*"/); op=substr($0, RSTART+4, RLENGTH-5); c[op]+=$NF }
		/^taskfleet_store_operation_duration_seconds_sum/ { match($0, /op="[^"]*"/); op=substr($0, RSTART+4, RLENGTH-5); s[op]+=$NF }
		/^process_cpu_seconds_total/ { cpu+=$NF }
		END { for (op in c) print op, c[op], s[op]; print "cpu", cpu, 0 }'
}
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
m0=0
[[ $store == mongo ]] && m0=$(ticks "$mpid")
scrape >"$dir/a"
start=$(date +%s.%N)
sleep "$window"
scrape >"$dir/b"
end=$(date +%s.%N)
m1=0
[[ $store == mongo ]] && m1=$(ticks "$mpid")
hz=$(getconf CLK_TCK)
echo "idle fleet: $n workers, store $store, events $ev, window $(python3 -c "print(round($end-$start,1))") s"
python3 - "$dir/a" "$dir/b" "$start" "$end" "$m0" "$m1" "$hz" "$store" <<'PY'
import sys
def load(p):
    return {l.split()[0]: (float(l.split()[1]), float(l.split()[2])) for l in open(p)}
a, b = load(sys.argv[1]), load(sys.argv[2])
wall = float(sys.argv[4]) - float(sys.argv[3])
ops = tot = busy = 0
for op in sorted(b):
    if op == "cpu":
        continue
    d = b[op][0] - a.get(op, (0, 0))[0]
    s = b[op][1] - a.get(op, (0, 0))[1]
    if d:
        print(f"  {op:16s} {d/wall:8.2f} ops/s   {1e6*s/d:8.1f} us each")
        tot += d; busy += s
print(f"  store operations: {tot/wall:.2f}/s in all; time in store calls (wall clock, waiting for a CPU included): {100*busy/wall:.3f} % of a core")
print(f"  workers' CPU: {100*(b['cpu'][0]-a['cpu'][0])/wall:.2f} % of a core in all")
if sys.argv[8] == "mongo":
    print(f"  store server CPU: {100*(float(sys.argv[6])-float(sys.argv[5]))/float(sys.argv[7])/wall:.2f} % of a core")
PY
