package program_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperWorker())
	}
	goleak.VerifyTestMain(m)
}

// python is the interpreter the tests run: /usr/bin/python3, else the one
// on PATH.
func python(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	return p
}

// sh returns a spec running script with /bin/sh.
func sh(script string) program.Spec {
	return program.Spec{Name: "sh", Command: []string{"sh", "-c", script}}
}

// testOpts are quick options: a short grace and flush interval.
func testOpts() program.Options {
	return program.Options{Pool: "p1", Grace: 200e6, FlushInterval: 20e6}
}

// task returns a running task claimed from waiting.
func task(id string, attempt int) *taskstate.Task {
	return &taskstate.Task{ID: id, Kind: "sh", Attempts: attempt, MaxAttempts: 3, ClaimedFrom: taskstate.StatusWaiting}
}

// runSpec runs spec's handler for task tk with param, as the Runner does.
func runSpec(ctx context.Context, spec program.Spec, opts program.Options, tk *taskstate.Task, param any) (map[string]any, error) {
	res, err := program.Handler(spec, opts)(taskstate.WithTask(ctx, tk), tk, param)
	if err != nil {
		return nil, err
	}
	return res.(map[string]any), nil
}

func runSh(t *testing.T, script string) (map[string]any, error) {
	t.Helper()
	return runSpec(t.Context(), sh(script), testOpts(), task("t1", 1), map[string]any{})
}
