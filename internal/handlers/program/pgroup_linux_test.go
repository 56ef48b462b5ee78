package program_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// spawner is a shell script that starts a grandchild `sleep`, records the
// shell's and the grandchild's pids in $PIDFILE, then waits for the grandchild
// (or, with exitEarly, prints a result and exits, leaving the grandchild).
// With ignoreTerm, the shell and the grandchild ignore SIGTERM.
func spawner(t *testing.T, exitEarly, ignoreTerm bool) (program.Spec, string) {
	t.Helper()
	pidfile := filepath.Join(t.TempDir(), "pids")
	return spawnerSpec(pidfile, exitEarly, ignoreTerm), pidfile
}

func spawnerSpec(pidfile string, exitEarly, ignoreTerm bool) program.Spec {
	script := `sleep 300 & echo "$$ $!" > "$PIDFILE"; ` // builtins only: fast
	if ignoreTerm {
		script = `trap '' TERM; ` + script
	}
	if exitEarly {
		script += `echo '{"left": "a grandchild"}'`
	} else {
		script += `wait`
	}
	s := sh(script)
	s.Env = map[string]string{"PIDFILE": pidfile}
	return s
}

// readPids returns the shell's and the grandchild's pids once the script has
// written them.
func readPids(t *testing.T, pidfile string) (shell, grandchild int) {
	t.Helper()
	var b []byte
	require.Eventually(t, func() bool {
		var err error
		b, err = os.ReadFile(pidfile)
		return err == nil && bytes.HasSuffix(b, []byte("\n")) // written in full
	}, 20*time.Second, 5*time.Millisecond, "the script never wrote its pids")
	fields := strings.Fields(string(b))
	require.Len(t, fields, 2)
	shell, err := strconv.Atoi(fields[0])
	require.NoError(t, err)
	grandchild, err = strconv.Atoi(fields[1])
	require.NoError(t, err)
	return shell, grandchild
}

// stat returns the state letter and the parent pid of pid.
func stat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// gone reports whether pid no longer runs. A zombie counts as gone: once its
// parent is dead it waits for init to reap it, which may not happen in a
// container.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	state, _, ok := stat(pid)
	return !ok || state == 'Z' || state == 'X'
}

func requireGone(t *testing.T, within time.Duration, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, pid := range pids {
		require.Eventually(t, func() bool { return gone(pid) }, max(time.Until(deadline), time.Millisecond), 5*time.Millisecond,
			"process %d survived", pid)
	}
}

func TestTimeoutStopsProcessGroup(t *testing.T) {
	t.Parallel()
	for _, ignoreTerm := range []bool{false, true} {
		t.Run(fmt.Sprintf("IgnoreTerm=%v", ignoreTerm), func(t *testing.T) {
			t.Parallel()
			spec, pidfile := spawner(t, false, ignoreTerm)
			// The timeout must outlast the start of the supervisor and the
			// shell (a race-built test binary re-executed on a loaded
			// machine), or the group dies before the script has run.
			spec.Timeout = 2 * time.Second
			opts := testOpts()
			opts.Grace = 500 * time.Millisecond
			start := time.Now()
			_, err := runSpec(t.Context(), spec, opts, task("t1", 1), nil)
			require.ErrorIs(t, err, program.ErrTimeout)
			require.ErrorContains(t, err, "program: timeout: program sh: stopped after 2s")
			if ignoreTerm {
				require.GreaterOrEqual(t, time.Since(start), spec.Timeout+opts.Grace, "SIGKILL waits for the grace")
			}
			shell, grandchild := readPids(t, pidfile)
			requireGone(t, 10*time.Second, shell, grandchild)
		})
	}
}

func TestDeadlineEnv(t *testing.T) {
	t.Parallel()
	spec := sh(`printf '{"deadline": "%s"}\n' "$TASKFLEET_DEADLINE"`)
	spec.Timeout = time.Hour
	res, err := runSpec(t.Context(), spec, testOpts(), task("t1", 1), nil)
	require.NoError(t, err)
	d, err := time.Parse(time.RFC3339, res["deadline"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Hour), d, time.Minute)

	res, err = runSpec(t.Context(), sh(`printf '{"deadline": "%s"}\n' "${TASKFLEET_DEADLINE-unset}"`), testOpts(), task("t1", 1), nil)
	require.NoError(t, err)
	require.Equal(t, "unset", res["deadline"])
}

func TestCancelStopsProcessGroup(t *testing.T) {
	t.Parallel()
	spec, pidfile := spawner(t, false, false)
	leaseLost := errors.New("lease lost")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	done := make(chan error, 1)
	go func() {
		_, err := runSpec(ctx, spec, testOpts(), task("t1", 1), nil)
		done <- err
	}()
	shell, grandchild := readPids(t, pidfile)
	require.False(t, gone(grandchild), "the grandchild runs until the cancel")

	cancel(leaseLost)
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, leaseLost, "the cancellation cause is kept")
		require.NotErrorIs(t, err, program.ErrTimeout)
	case <-time.After(30 * time.Second):
		t.Fatal("the handler did not return after cancel")
	}
	requireGone(t, 10*time.Second, shell, grandchild)
}

func TestExitKillsLeftovers(t *testing.T) {
	t.Parallel()
	// The shell exits at once, leaving a grandchild that holds its stdout
	// open. The handler must neither hang on that pipe nor leave it.
	spec, pidfile := spawner(t, true, false)
	start := time.Now()
	res, err := runSpec(t.Context(), spec, testOpts(), task("t1", 1), nil)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"left": "a grandchild"}, res)
	require.Less(t, time.Since(start), 4*time.Second, "the handler waited for the grandchild's pipe")
	_, grandchild := readPids(t, pidfile)
	requireGone(t, 10*time.Second, grandchild)
}

// helperEnv makes the test binary a worker that runs the spawner program
// and blocks (see helperWorker); its value is the pid file.
const helperEnv = "PROGRAM_TEST_HELPER_PIDFILE"

// helperRootEnv is the directory the helper worker makes its work root in.
const helperRootEnv = "PROGRAM_TEST_HELPER_ROOT"

// helperWorker runs the spawner (waiting for its grandchild) as a worker
// would, until it is killed.
func helperWorker() int {
	spec := spawnerSpec(os.Getenv(helperEnv), false, false)
	work, _, err := program.OpenWorkRoot(os.Getenv(helperRootEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	tk := &taskstate.Task{ID: "k9", Kind: spec.Name, Attempts: 1, ClaimedFrom: taskstate.StatusWaiting}
	_, err = program.Handler(spec, program.Options{Pool: "p", WorkRoot: work.Dir()})(context.Background(), tk, nil)
	fmt.Fprintln(os.Stderr, "helper: the program ended:", err)
	return 1
}

// TestWorkerKill9LeavesNoProcess kill -9s a worker (this test binary
// re-executed) running a program that waits for a grandchild sleep: within
// a second the supervisor, the program and the grandchild are gone. The
// attempt's work directory stays, and the next work root opened beside
// the killed worker's removes it.
func TestWorkerKill9LeavesNoProcess(t *testing.T) {
	t.Parallel()
	pidfile := filepath.Join(t.TempDir(), "pids")
	root := t.TempDir()
	worker := exec.Command(os.Args[0], "-test.run=^$")
	worker.Env = append(os.Environ(), helperEnv+"="+pidfile, helperRootEnv+"="+root)
	worker.Stderr = os.Stderr
	require.NoError(t, worker.Start())
	defer func() { _ = worker.Process.Kill(); _ = worker.Wait() }()

	shell, grandchild := readPids(t, pidfile)
	_, supervisor, ok := stat(shell)
	require.True(t, ok)
	_, supervisorParent, ok := stat(supervisor)
	require.True(t, ok)
	require.Equal(t, worker.Process.Pid, supervisorParent, "the program runs under a supervisor, a child of the worker")
	pgid, err := syscall.Getpgid(grandchild)
	require.NoError(t, err)
	require.Equal(t, supervisor, pgid, "the grandchild is in the supervisor's group")

	require.NoError(t, worker.Process.Signal(syscall.SIGKILL))
	requireGone(t, time.Second, supervisor, shell, grandchild)
	require.Error(t, worker.Wait())

	left, err := filepath.Glob(filepath.Join(root, "taskfleet_work-*", "taskfleet-"+spawnerSpec("", false, false).Name+"-*", "task.json"))
	require.NoError(t, err)
	require.Len(t, left, 1, "the killed worker's attempt left its work directory")
	killedRoot := filepath.Dir(filepath.Dir(left[0]))
	next, removed, err := program.OpenWorkRoot(root)
	require.NoError(t, err)
	defer next.Close()
	require.Equal(t, []string{killedRoot}, removed)
	require.NoDirExists(t, killedRoot)
}
