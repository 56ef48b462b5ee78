#!/usr/bin/env bash
# Run a command with a MongoDB-compatible test server available.
#
#   tools/mongotestserver/with-server.sh CMD [ARGS...]
#   e.g. tools/mongotestserver/with-server.sh go test ./...
#
# Builds mongotestserver (embedded FerretDB + SQLite), starts it on a free
# loopback port, exports TASKFLEET_TEST_MONGO_URI=mongodb://127.0.0.1:PORT/
# (the server) and TASKFLEET_TEST_MONGO_PROXY_URI (the same server through
# its serialising proxy, which runs one command at a time: see
# serialproxy/doc.go) and TASKFLEET_TEST_MONGOTESTSERVER_BIN (the binary,
# for tests that start a server of their own) for CMD, runs CMD, stops the
# server and exits with CMD's exit code. The
# server is stopped on every exit path (normal exit, error, SIGINT/SIGTERM);
# if this script is killed with SIGKILL the server notices that its parent is
# gone and shuts itself down.
#
# If TASKFLEET_TEST_MONGO_URI is already set (e.g. to a real MongoDB), no
# server is started and CMD runs against that URI.
#
# Environment:
#   MONGOTESTSERVER_BIN        use this prebuilt binary instead of building one
#   GO                         go command used for the build (default: go)
#   MONGOTESTSERVER_LOG        append the server's stderr to this file
#                              (default: a temporary file, shown only if the
#                              server fails to start)
#   MONGOTESTSERVER_LOG_LEVEL  server log level (default: error)
#   MONGOTESTSERVER_TIMEOUT    seconds to wait for the server (default: 60)
set -euo pipefail

if [[ $# -eq 0 ]]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

if [[ -n "${TASKFLEET_TEST_MONGO_URI:-}" ]]; then
	echo "mongotestserver: TASKFLEET_TEST_MONGO_URI is set; using it, not starting a server" >&2
	exec "$@"
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mongotestserver.XXXXXX")"
server_pid=""

stop_server() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		# The server closes connections and removes its data dir; give it
		# up to 20 s, then kill it.
		for _ in $(seq 1 200); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$server_pid" 2>/dev/null; then
			echo "mongotestserver: server did not stop, killing it" >&2
			kill -KILL "$server_pid" 2>/dev/null || true
		fi
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=""
}

cleanup() {
	local rc=$?
	stop_server
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bin="${MONGOTESTSERVER_BIN:-}"
if [[ -z "$bin" ]]; then
	bin="$work/mongotestserver"
	# Its own module: build it with its own go.mod, independent of any
	# go.work, without cgo (SQLite is pure Go).
	(cd "$here" && GOWORK=off CGO_ENABLED=0 "${GO:-go}" build -buildvcs=false -o "$bin" .)
fi

log="${MONGOTESTSERVER_LOG:-$work/server.log}"
uri_file="$work/uri"

# TMPDIR=$work: the server's temporary data dir lives inside $work, so it is
# removed below even if the server itself dies without cleaning up.
TMPDIR="$work" "$bin" -uri-file "$uri_file" -exit-with-parent \
	-log-level "${MONGOTESTSERVER_LOG_LEVEL:-error}" >/dev/null 2>>"$log" </dev/null &
server_pid=$!

timeout="${MONGOTESTSERVER_TIMEOUT:-60}"
deadline=$((SECONDS + timeout))
while [[ ! -s "$uri_file" ]]; do
	if ! kill -0 "$server_pid" 2>/dev/null; then
		wait "$server_pid" 2>/dev/null && rc=0 || rc=$?
		server_pid=""
		echo "mongotestserver: server exited with status $rc before it was ready; its log:" >&2
		cat "$log" >&2 || true
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		echo "mongotestserver: server not ready after ${timeout}s; its log:" >&2
		cat "$log" >&2 || true
		exit 1
	fi
	sleep 0.1
done

# Line 1: the server; line 2 (absent from older binaries): its proxy.
TASKFLEET_TEST_MONGO_URI="$(sed -n 1p "$uri_file")"
export TASKFLEET_TEST_MONGO_URI
proxy_uri="$(sed -n 2p "$uri_file")"
if [[ -n "$proxy_uri" ]]; then
	export TASKFLEET_TEST_MONGO_PROXY_URI="$proxy_uri"
fi
# Tests that need a server of their own (on another address, say) start
# this same binary.
TASKFLEET_TEST_MONGOTESTSERVER_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export TASKFLEET_TEST_MONGOTESTSERVER_BIN
echo "mongotestserver: FerretDB (SQLite) at $TASKFLEET_TEST_MONGO_URI, serialised at ${proxy_uri:-(none)}, pid $server_pid" >&2

set +e
"$@"
rc=$?
set -e
exit "$rc"
