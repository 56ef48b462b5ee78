package program_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// TestManagerSink runs a program whose log goes to a real SQLite store: the
// log is readable through Manager.Logs while the program runs, and its end
// (the last MaxLogBytes, with the total count) once it has failed.
func TestManagerSink(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	m, err := taskstate.NewManager(taskstate.Config{Store: store, Pool: "p1"})
	require.NoError(t, err)
	created, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "sh", Def: map[string]any{"n": 1}}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	id := created.IDs[0]

	gate := filepath.Join(t.TempDir(), "go")
	opts := testOpts()
	opts.LogSink = program.ManagerSink(m)
	opts.MaxLogBytes = 64
	// 10 lines of 21 bytes after the gate: the store keeps the last 64.
	spec := sh(`echo "epoch 1" >&2; while [ ! -e "$GATE" ]; do sleep 0.01; done
for i in 0 1 2 3 4 5 6 7 8 9; do printf 'line %02d ............\n' $i >&2; done; exit 4`)
	spec.Env = map[string]string{"GATE": gate}
	spec.Timeout = time.Minute

	done := make(chan error, 1)
	go func() {
		_, err := runSpec(ctx, spec, opts, task(id, 1), nil)
		done <- err
	}()
	require.Eventually(t, func() bool {
		logs, err := m.Logs(ctx, id, "", 1)
		return err == nil && len(logs) == 1 && string(logs[0].Tail) == "epoch 1\n" && logs[0].Total == 8
	}, 10*time.Second, 5*time.Millisecond, "the running program's log is in the store")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the handler did not return after the gate opened")
	}
	var ee *program.ExitError
	require.ErrorAs(t, runErr, &ee)
	require.Equal(t, 4, ee.Code)

	logs, err := m.Logs(ctx, id, "", 0)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	var all bytes.Buffer
	all.WriteString("epoch 1\n")
	for i := range 10 {
		all.WriteString("line 0" + string(rune('0'+i)) + " ............\n")
	}
	require.Equal(t, int64(all.Len()), logs[0].Total)
	require.Equal(t, all.Bytes()[all.Len()-64:], logs[0].Tail)
	require.Equal(t, 1, logs[0].Attempt)
	require.True(t, strings.HasSuffix(ee.LogTail, "line 09 ............"), "error tail: %q", ee.LogTail)

	// A log of another pool's task is refused, not written under this pool.
	err = program.ManagerSink(m).WriteLog(ctx, program.LogRef{Pool: "p2", ID: id, Attempt: 2}, 1, []byte("x"))
	require.ErrorContains(t, err, `pool "p2"`)
	logs, err = m.Logs(ctx, id, "", 2)
	require.NoError(t, err)
	require.Empty(t, logs)
}
