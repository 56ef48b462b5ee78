package exec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/exec"
)

// spawner is a shell script that starts a grandchild `sleep`, records the
// shell's and the grandchild's pids in $PIDFILE, then waits for the grandchild
// (or, with exitEarly, prints a result and exits, leaving the grandchild).
func spawner(t *testing.T, exitEarly bool) (exec.Def, string) {
	t.Helper()
	pidfile := filepath.Join(t.TempDir(), "pids")
	script := `sleep 300 & echo "$$ $!" > "$PIDFILE"; ` // builtins only: fast
	if exitEarly {
		script += `echo '{"left": "a grandchild"}'`
	} else {
		script += `wait`
	}
	def := sh(script)
	def.Env = []string{"PIDFILE=" + pidfile}
	return def, pidfile
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
	}, 10*time.Second, 5*time.Millisecond, "the script never wrote its pids")
	fields := strings.Fields(string(b))
	require.Len(t, fields, 2)
	shell, err := strconv.Atoi(fields[0])
	require.NoError(t, err)
	grandchild, err = strconv.Atoi(fields[1])
	require.NoError(t, err)
	return shell, grandchild
}

// gone reports whether pid no longer runs. A zombie counts as gone: once its
// parent is dead it waits for init to reap it, which may not happen in a
// container.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

func requireGone(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		require.Eventually(t, func() bool { return gone(pid) }, 10*time.Second, 5*time.Millisecond, "process %d survived", pid)
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	def, pidfile := spawner(t, false)
	def.Timeout = "2s"
	start := time.Now()
	_, err := exec.Run(t.Context(), def, nil)
	require.ErrorIs(t, err, exec.ErrTimeout)
	require.ErrorContains(t, err, "exec: timeout: sh: killed after 2s")
	require.Less(t, time.Since(start), 60*time.Second, "Run returned long after the timeout")
	shell, grandchild := readPids(t, pidfile)
	requireGone(t, shell, grandchild)
}

func TestCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	def, pidfile := spawner(t, false)
	leaseLost := errors.New("lease lost")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	done := make(chan error, 1)
	go func() {
		_, err := exec.Run(ctx, def, nil)
		done <- err
	}()
	shell, grandchild := readPids(t, pidfile)
	require.False(t, gone(grandchild), "the grandchild runs until the cancel")

	cancel(leaseLost)
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorIs(t, err, leaseLost, "the cancellation cause is kept")
		require.NotErrorIs(t, err, exec.ErrTimeout)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	requireGone(t, shell, grandchild)
}

func TestExitKillsLeftovers(t *testing.T) {
	t.Parallel()
	// The shell exits at once, leaving a grandchild that holds its stdout
	// open. Run must neither hang on that pipe nor leave the grandchild.
	def, pidfile := spawner(t, true)
	start := time.Now()
	res, err := exec.Run(t.Context(), def, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"left": "a grandchild"}, res)
	require.Less(t, time.Since(start), 4*time.Second, "Run waited for the grandchild's pipe")
	_, grandchild := readPids(t, pidfile)
	requireGone(t, grandchild)
}
