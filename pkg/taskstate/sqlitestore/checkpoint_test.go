package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// openChecked opens a store on path whose checkpointer looks every
// millisecond and tells checked after each look.
func openChecked(t *testing.T, path string, checked chan<- bool) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: path, CheckpointInterval: time.Millisecond, checkpointChecked: checked})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// createTasks creates n tasks in pool p of s.
func createTasks(t *testing.T, s taskstate.Store, p string, n int) {
	t.Helper()
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: p})
	require.NoError(t, err)
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		specs[i] = taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"i": i}}
	}
	_, err = m.Create(t.Context(), specs, taskstate.CreateOptions{})
	require.NoError(t, err)
}

// checkpointedAll waits for the checkpointer of s to look at a file that
// did not change since its last look (so its last checkpoint came after
// every write), then checks that the WAL's pages are all in the database
// file.
func checkpointedAll(t *testing.T, s *Store, checked <-chan bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for ran := true; ran; {
		select {
		case <-ctx.Done():
			t.Fatal("the checkpointer kept finding the file changed")
		case ran = <-checked:
		}
	}
	require.Positive(t, s.ckpt.log.Load(), "the writes added no pages to the WAL")
	require.Equal(t, s.ckpt.log.Load(), s.ckpt.copied.Load(), "pages of the WAL not in the database file")
}

// TestCheckpointerCopiesWrites: the store's writes reach the database file
// through its checkpointer, not through the writer's commits.
func TestCheckpointerCopiesWrites(t *testing.T) {
	checked := make(chan bool)
	s := openChecked(t, filepath.Join(t.TempDir(), "tasks.db"), checked)
	var auto int
	require.NoError(t, s.w.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&auto))
	require.Zero(t, auto, "the writer must not checkpoint in its commits")
	createTasks(t, s, "p", 500)
	checkpointedAll(t, s, checked)
}

// TestCheckpointerIdle: a store whose file nobody writes runs no
// checkpoint, however often it looks.
func TestCheckpointerIdle(t *testing.T) {
	checked := make(chan bool)
	s := openChecked(t, filepath.Join(t.TempDir(), "tasks.db"), checked)
	createTasks(t, s, "p", 10)
	checkpointedAll(t, s, checked)
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	for range 5 {
		_, err := m.Stat(t.Context(), taskstate.Query{}) // reads only
		require.NoError(t, err)
		require.False(t, <-checked, "a checkpoint ran while nothing was written")
	}
}

// TestCheckpointerCopiesOthersWrites: a store checkpoints what another
// store (another process) wrote, so a file whose writers never checkpoint
// is still copied by whichever store looks.
func TestCheckpointerCopiesOthersWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	checked := make(chan bool)
	looker := openChecked(t, path, checked)
	writer, err := Open(t.Context(), Config{Path: path, CheckpointInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { writer.Close() })
	require.Nil(t, writer.ckpt)
	var auto int
	require.NoError(t, writer.w.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&auto))
	require.Equal(t, autoCheckpointPages, auto, "a negative interval keeps SQLite's own checkpoints")
	createTasks(t, writer, "p", 500)
	checkpointedAll(t, looker, checked)
}
