// Command mongotestserver runs a MongoDB wire-protocol compatible server for
// tests, on machines where no real MongoDB server can be installed.
//
// It embeds FerretDB v1 (github.com/FerretDB/FerretDB/ferretdb) with its
// SQLite backend (modernc.org/sqlite, pure Go, so it builds with
// CGO_ENABLED=0) and listens on a loopback TCP port.
//
// Usage:
//
//	mongotestserver [-listen 127.0.0.1:0] [-dir DIR] [-uri-file PATH] [-log-level error] [-exit-with-parent]
//
// Flags:
//
//	-listen ADDR       TCP address to listen on; port 0 (the default,
//	                   127.0.0.1:0) picks a free port.
//	-dir DIR           directory for the SQLite database files; created if
//	                   missing and kept on exit. By default a new temporary
//	                   directory is used and removed on exit.
//	-uri-file PATH     once the server answers commands, write its two URIs
//	                   (see below) to PATH, one a line (written to a temporary
//	                   file in the same directory, then renamed, so readers
//	                   never see a partial URI).
//	                   The file is removed again on shutdown.
//	-log-level LEVEL   debug, info, warn or error (default); logs go to stderr.
//	                   At warn FerretDB dumps every failed command reply
//	                   (including the driver's endSessions on disconnect).
//	-exit-with-parent  shut down when the parent process exits (used by
//	                   with-server.sh so that no server is left behind even if
//	                   the script itself is killed with SIGKILL).
//	-ready-timeout D   how long to wait for the first successful ping
//	                   (default 30s).
//
// Once the server answers a ping, two lines are printed to stdout: the
// server's URI, e.g. "mongodb://127.0.0.1:41234/", then the URI of its
// serialising proxy (package serialproxy), which forwards one command at a
// time to the same server, so that FerretDB's non-atomic findAndModify and
// conditional updates behave atomically. The server runs until it
// receives SIGINT or SIGTERM, then closes all connections, stops the backend
// and removes its temporary data directory.
//
// Telemetry is off: the embeddable FerretDB package never starts its
// telemetry reporter and locks the telemetry state to disabled; the server
// additionally sets FERRETDB_TELEMETRY=disable and DO_NOT_TRACK=1 in its own
// environment. It opens no network connection other than its listener.
//
// with-server.sh in this directory wraps a command: it builds and starts the
// server, exports TASKFLEET_TEST_MONGO_URI and TASKFLEET_TEST_MONGO_PROXY_URI
// for the command, runs it, stops the server and exits with the command's
// exit code. See README.md.
package main
