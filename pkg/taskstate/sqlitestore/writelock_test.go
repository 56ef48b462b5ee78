//go:build unix

package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestWriterFlockOrdersWriters: two handles on one file (two processes, as
// far as flock is concerned) take turns through PATH-wlock: while one holds
// a write transaction the other waits on the flock, gives up when its
// context ends, and gets through once the first lets go.
func TestWriterFlockOrdersWriters(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tasks.db")
	a, b := openAt(t, path), openAt(t, path)
	require.FileExists(t, path+"-wlock")
	a.wc.checked.Store(0) // a last asked before b opened (see aloneRecheck)

	create := createOne
	tx, err := a.w.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	probe, err := openFileLock(path + "-wlock")
	require.NoError(t, err)
	defer probe.close()
	require.False(t, probe.try(), "a's transaction holds the flock")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, create(ctx, b, "k1"), context.DeadlineExceeded, "b waits for a's transaction")
	require.NoError(t, tx.Rollback())
	require.Eventually(t, func() bool { return probe.try() }, 5*time.Second, time.Millisecond, "the rollback lets go")
	probe.unlock()
	require.NoError(t, create(t.Context(), b, "k2"), "a let go")
	require.NoError(t, create(t.Context(), a, "k3"), "b let go, and the wait b gave up let go too")
	c, err := a.Stat(t.Context(), taskstate.StatParams{Pool: "p"})
	require.NoError(t, err)
	require.Equal(t, 2, c.Total())
}

// createOne creates one task of key in pool "p" of s.
func createOne(ctx context.Context, s *Store, key string) error {
	_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Now: time.Now(),
		Tasks: []taskstate.NewTask{{ID: taskstate.NewID(), Kind: "noop", Key: key, Filter: map[string]any{}}}})
	return err
}

// TestWriterAloneSkipsFlock: a store that is the only one with the file
// open writes without the flock; once a second store opens the file, the
// first takes the flock again (at its next check), and after the second
// closes it skips it again. The flock is held throughout by a bare lock,
// which no store counts as open.
func TestWriterAloneSkipsFlock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tasks.db")
	a := openAt(t, path)
	if !a.wc.joined {
		t.Skip("skipped: a store tells whether it is alone only on Linux (open-file-description locks)")
	}
	probe, err := openFileLock(path + "-wlock")
	require.NoError(t, err)
	defer probe.close()
	require.True(t, probe.try())

	keys := 0
	create := func(timeout time.Duration) error {
		keys++
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		return createOne(ctx, a, fmt.Sprint("k", keys))
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

// TestSharedAfterAWait: a store counts as shared (taskstate.Shared) once
// one of its writers found the flock taken by another store, for
// aloneRecheck after that; a store that only opened the file does not
// count.
func TestSharedAfterAWait(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tasks.db")
	a, b := openAt(t, path), openAt(t, path)
	a.wc.checked.Store(0) // a last asked before b opened (see aloneRecheck)
	require.NoError(t, createOne(t.Context(), a, "k1"))
	require.False(t, a.Shared(), "b has the file open but does not write")

	tx, err := b.w.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, createOne(ctx, a, "k2"), context.DeadlineExceeded, "b holds the flock")
	require.NoError(t, tx.Rollback())
	require.True(t, a.Shared(), "a waited for b")
	require.NoError(t, createOne(t.Context(), a, "k3"))

	a.wc.waited.Store(time.Now().Add(-aloneRecheck).UnixNano())
	require.False(t, a.Shared(), "no wait within aloneRecheck")
}
