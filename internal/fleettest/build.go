package fleettest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Binaries are the paths of the built dispatcher and worker.
type Binaries struct {
	Dispatcher string
	Worker     string
}

var built struct {
	once sync.Once
	dir  string
	bins Binaries
	err  error
}

// Build returns the dispatcher and worker built from this module's cmd/,
// compiling them on the first call of the test process (later calls, from
// any goroutine, wait for that one). They are race-built when the test
// binary is ([RaceEnabled]). The directory they are in is removed by
// [Main]; a package that calls Build should use it in its TestMain.
func Build(t testing.TB) Binaries {
	t.Helper()
	built.once.Do(func() {
		// Shared by every test of the process and removed by Main.
		built.dir, built.err = os.MkdirTemp("", "taskfleet-bin-") //nolint:usetesting // t.TempDir would go when the calling test ends
		if built.err != nil {
			return
		}
		built.err = build(built.dir)
		built.bins = Binaries{Dispatcher: filepath.Join(built.dir, "dispatcher"), Worker: filepath.Join(built.dir, "worker")}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bins
}

// build compiles cmd/dispatcher and cmd/worker into dir. `go test` puts the
// go command that runs it first on PATH; the build cache serves `make
// build` and every package using this harness.
func build(dir string) error {
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if RaceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/taskfleet/taskfleet/cmd/dispatcher", "github.com/taskfleet/taskfleet/cmd/worker")
	start := time.Now()
	// No test owns the shared build: none of their contexts may cancel it.
	out, err := exec.CommandContext(context.Background(), "go", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "fleettest: built dispatcher and worker (race=%v) in %s\n", RaceEnabled, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// Main runs the tests of m with $TMPDIR set to a directory of its own, for
// them and the processes they start, and removes it and the binaries
// [Build] made; when the tests passed, it fails the run if goroutines are
// left behind (goleak.Find with opts). What a killed process leaves in its
// temporary directory (a worker's program work root) goes with the rest.
// It does not return: call it as the whole body of TestMain.
func Main(m *testing.M, opts ...goleak.Option) {
	tmp, err := os.MkdirTemp("", "tf")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleettest:", err)
		os.Exit(1)
	}
	if err := os.Setenv("TMPDIR", tmp); err != nil {
		fmt.Fprintln(os.Stderr, "fleettest:", err)
		os.Exit(1)
	}
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	_ = os.RemoveAll(tmp)
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "fleettest: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}
