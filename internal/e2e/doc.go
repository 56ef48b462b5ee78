// Package e2e runs the real dispatcher and worker binaries as separate
// processes on loopback, against one SQLite file per test, and checks the
// fleet's behaviour from outside: through the CLI (create, stat, query, get,
// wait), the workers' /metrics, their logs and their exit codes.
//
// The processes come from internal/fleettest: the binaries are built once
// per test run (with -race when the test binary itself is race-built, so
// `go test -race` also checks the binaries; any "DATA RACE" report in a
// process's output fails the test), every process is started in its own
// process group and killed with the test. Nothing waits by sleeping: a test
// waits on a process's exit, on a line in its output, or polls stat, query
// or /metrics under a deadline (fleettest.Eventually).
//
// In -short mode the tests are skipped and nothing is built.
package e2e
