// Package fleettest is the harness of the tests that run taskfleet's real
// binaries as separate processes (internal/e2e, deploy).
//
// It owns what such a test needs and nothing about any one test:
//
//   - [Build] compiles cmd/dispatcher and cmd/worker once per test process,
//     with -race when the test binary itself is race-built, so
//     `go test -race` checks the processes too;
//   - [Start] and [Run] start a binary in its own process group with a
//     clean environment ([Env]); a [Proc] waits for a line of its output or
//     a JSON log record, for its exit (always under a timeout), and is
//     killed when the test ends; a "DATA RACE" report in its output fails
//     the test;
//   - [FreeAddr] finds a free loopback port, [SyncBuffer] collects output
//     written by one goroutine and read by another;
//   - [Eventually] polls a condition under a deadline: nothing in a test
//     waits for asynchronous work by sleeping;
//   - [Scrape] fetches a /metrics endpoint and parses it with expfmt;
//   - [Main] runs a package's tests, removes what Build built and fails the
//     run on leaked goroutines (goleak).
//
// It is imported by tests only. Everything takes a [testing.TB] and fails
// the test itself, with the process's output in the message.
package fleettest
