//go:build unix

// Package e2e_test runs the real dispatcher and worker binaries as separate
// processes on loopback, against one SQLite file per test, and checks the
// fleet's behaviour from outside: through the CLI (create, stat, query, get,
// wait), the workers' /metrics, their logs and their exit codes.
//
// TestMain builds both binaries once into a temporary directory (with -race
// when the test binary itself is race-built, so `go test -race` also checks
// the binaries; any "DATA RACE" report in a process's output fails the test).
// Every process is started in its own process group and killed with the
// test. Nothing waits by sleeping: a test waits on a process's exit, on a
// line in its output, or polls stat, query or /metrics under a deadline.
//
// In -short mode the tests are skipped and nothing is built.
package e2e_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// bin holds the paths of the built binaries; empty in -short mode.
var bin struct{ dispatcher, worker string }

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "taskfleet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	bin.dispatcher = filepath.Join(dir, "dispatcher")
	bin.worker = filepath.Join(dir, "worker")
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			code = 1
		}
	}
	return code
}

// build compiles cmd/dispatcher and cmd/worker into dir. `go test` puts the
// go command that runs it first on PATH.
func build(dir string) error {
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/taskfleet/taskfleet/cmd/dispatcher", "github.com/taskfleet/taskfleet/cmd/worker")
	start := time.Now()
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built dispatcher and worker (race=%v) in %s\n", raceEnabled, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
