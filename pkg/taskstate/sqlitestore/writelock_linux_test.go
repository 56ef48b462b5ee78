package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestWriterAloneSkipsFlock: a store that is the only one with the file
// open writes without the flock; once a second store opens the file, the
// first takes the flock again (at its next check), and after the second
// closes it skips it again. The flock is held throughout by a bare lock,
// which no store counts as open.
func TestWriterAloneSkipsFlock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tasks.db")
	a, err := Open(t.Context(), Config{Path: path})
	require.NoError(t, err)
	defer a.Close()
	require.True(t, a.wc.joined)
	probe, err := openFileLock(path + "-wlock")
	require.NoError(t, err)
	defer probe.close()
	require.True(t, probe.try())

	n := 0
	create := func(timeout time.Duration) error {
		n++
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		_, err := a.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Now: time.Now(),
			Tasks: []taskstate.NewTask{{ID: taskstate.NewID(), Kind: "noop", Key: string(rune('a' + n)), Filter: map[string]any{}}}})
		return err
	}
	recheck := func() { a.wc.checked.Store(0) }

	require.NoError(t, create(5*time.Second), "alone: no flock taken")

	probe.unlock() // b's Open writes
	b, err := Open(t.Context(), Config{Path: path})
	require.NoError(t, err)
	require.True(t, probe.try())
	defer probe.unlock()
	recheck()
	require.ErrorIs(t, create(50*time.Millisecond), context.DeadlineExceeded, "b has the file open: a waits for the flock")
	require.False(t, a.wc.wasAlone.Load())

	require.NoError(t, b.Close())
	recheck()
	require.NoError(t, create(5*time.Second), "b closed: alone again")
	require.True(t, a.wc.wasAlone.Load())

	c, err := a.Stat(t.Context(), taskstate.StatParams{Pool: "p"})
	require.NoError(t, err)
	require.Equal(t, 2, c.Total())
}
