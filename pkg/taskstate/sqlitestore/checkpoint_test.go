package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// checkpointedStore opens a store as openChecked does on a new file,
// creates n tasks in pool p and waits for them to be checkpointed.
func checkpointedStore(t *testing.T, n int) (s *Store, path string, checked chan bool) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "tasks.db")
	checked = make(chan bool)
	s = openChecked(t, path, checked)
	createN(t, s, "p", n, 0)
	checkpointedAll(t, s, checked)
	return s, path, checked
}

// TestCheckpointerCopiesWrites: the store's writes reach the database file
// through its checkpointer, long before the writer's commits would copy
// them (at 20,000 pages).
func TestCheckpointerCopiesWrites(t *testing.T) {
	checkpointedStore(t, 500)
}

// TestCheckpointerOnlyAfterItsWrites: a store checkpoints only after an
// interval in which it wrote. Its reads, and another store's writes (an
// idle worker's registry write, seen by fifty others), start none.
func TestCheckpointerOnlyAfterItsWrites(t *testing.T) {
	s, path, checked := checkpointedStore(t, 10)
	other, err := Open(t.Context(), Config{Path: path, CheckpointInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	require.Nil(t, other.ckpt, "a negative interval starts no checkpointer")
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	for i := range 5 {
		_, err := m.Stat(t.Context(), taskstate.Query{}) // reads only
		require.NoError(t, err)
		createN(t, other, "q"+strconv.Itoa(i), 10, 0)
		require.False(t, <-checked, "a checkpoint ran though the store did not write")
	}
}

// TestCheckpointerWALBounded: while a writer writes without a pause and
// the checkpointer copies beside it, the WAL still starts over once it
// reaches wal_autocheckpoint pages (here 100): the commit's own checkpoint
// finishes it. A checkpointer alone never finds the WAL finished, and the
// WAL grew with every write (to 650 MB in a million-task create; 7,204
// pages here). A commit whose checkpoint finds the checkpointer copying
// leaves the WAL to the next commit, so the bound holds loosely: the
// checkpointer looks every 50 ms here (one that looks every millisecond
// holds SQLite's checkpoint lock so often that the commits' checkpoints
// rarely get it: 730 pages; 379 with a look every 10 ms on a loaded
// machine), and the test allows ten times the bound.
func TestCheckpointerWALBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s, err := Open(t.Context(), Config{Path: path, CheckpointInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.w.ExecContext(t.Context(), "PRAGMA wal_autocheckpoint = 100") // the writer's one connection
	require.NoError(t, err)
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p"})
	require.NoError(t, err)
	pages := 0
	for i := range 300 {
		specs := make([]taskstate.TaskSpec, 20)
		for j := range specs {
			specs[j] = taskstate.TaskSpec{Kind: "noop", Def: map[string]any{"i": i*20 + j, "pad": strings.Repeat("x", 200)}}
		}
		_, err := m.Create(t.Context(), specs, taskstate.CreateOptions{})
		require.NoError(t, err)
	}
	var pageSize int64
	require.NoError(t, s.r.QueryRowContext(t.Context(), "PRAGMA page_size").Scan(&pageSize))
	require.NoError(t, s.r.QueryRowContext(t.Context(), "SELECT count(*) FROM dbstat").Scan(&pages))
	st, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	walPages := st.Size() / pageSize
	t.Logf("the WAL reached %d pages; %d pages written", walPages, pages)
	require.Greater(t, int64(pages), int64(400), "the writes must be several times the WAL's bound")
	require.Less(t, walPages, int64(1000), "the WAL grew to %d pages with a bound of 100 (%d pages written)", walPages, pages)
}

// TestCheckpointerLeavesACutFile: the checkpointer does not write pages
// back into a file cut short under the store. A checkpoint first lengthens
// the file to the database's size: the cut would fill with zeros, and the
// worker's health check (CheckHeader) would no longer see it.
func TestCheckpointerLeavesACutFile(t *testing.T) {
	s, path, checked := checkpointedStore(t, 2000)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, fi.Size()/2))
	_, _ = s.w.ExecContext(t.Context(), `UPDATE pool_counts SET n = n WHERE pool = 'p'`) // a write: the next look runs
	for ran := false; !ran; {
		ran = <-checked
	}
	require.Positive(t, s.ckpt.skipped.Load(), "the checkpointer ran on a cut file")
	after, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fi.Size()/2, after.Size(), "the cut file was lengthened")
	require.Error(t, CheckHeader(path, after.Size()), "the damage is still there to see")
}
