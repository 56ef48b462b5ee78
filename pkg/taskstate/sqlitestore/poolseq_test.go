package sqlitestore

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestPoolRanges: two stores on one file (two processes) create into two
// pools in turn. Each pool is numbered once, whichever store came first;
// every task's seq is in its pool's range and above the seqs created
// before it; a page of a pool is its tasks in creation order.
func TestPoolRanges(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tasks.db")
	stores := []*Store{openAt(t, path), openAt(t, path)}
	created := map[string][]string{}
	last := map[string]int64{}
	for i := range 40 {
		s, pool := stores[i%2], []string{"x", "y", "x", "z"}[i%4]
		tasks := newTasks(fmt.Sprint("k", i), fmt.Sprint("j", i))
		_, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: pool, Tasks: tasks, Now: time.Now()})
		require.NoError(t, err)
		for _, task := range tasks {
			got, err := s.Get(t.Context(), taskstate.GetParams{Pool: pool, ID: task.ID})
			require.NoError(t, err)
			no, err := s.poolNo(t.Context(), pool)
			require.NoError(t, err)
			lo, hi := seqRange(no)
			require.Greater(t, got.Seq, max(lo, last[pool]), "task %d of pool %s", i, pool)
			require.Less(t, got.Seq, hi)
			last[pool] = got.Seq
			created[pool] = append(created[pool], task.ID)
		}
	}
	var nos []int64
	for _, pool := range []string{"x", "y", "z"} {
		a, err := stores[0].poolNo(t.Context(), pool)
		require.NoError(t, err)
		b, err := stores[1].poolNo(t.Context(), pool)
		require.NoError(t, err)
		require.Equal(t, a, b, "pool %s has one number", pool)
		nos = append(nos, a)

		var got []string
		for task, err := range stores[1].Query(t.Context(), taskstate.QueryParams{Pool: pool}) {
			require.NoError(t, err)
			got = append(got, task.ID)
		}
		require.Equal(t, created[pool], got, "pool %s", pool)
	}
	require.Equal(t, []int64{1, 2, 3}, nos)
	none, err := stores[0].poolNo(t.Context(), "never")
	require.NoError(t, err)
	require.Zero(t, none, "a pool without tasks has no number")
	c, err := stores[0].Stat(t.Context(), taskstate.StatParams{Pool: "never", Query: taskstate.Query{}.Where(taskstate.FieldKind, taskstate.OpEq, "k")})
	require.NoError(t, err)
	require.Zero(t, c.Total())
}

// TestPoolSeqsUsedUp: a create that would go past its pool's range fails,
// naming the pool, and writes nothing.
func TestPoolSeqsUsedUp(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	_, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "p", Tasks: newTasks("a"), Now: time.Now()})
	require.NoError(t, err)
	_, hi := seqRange(1)
	_, err = s.w.ExecContext(t.Context(), `UPDATE tasks SET seq = ? WHERE pool = 'p'`, hi-2)
	require.NoError(t, err)
	_, err = s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "p", Tasks: newTasks("b", "c"), Now: time.Now()})
	require.ErrorContains(t, err, `pool "p": its 1099511627775 seqs are used up`)
	_, err = s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "p", Tasks: newTasks("b"), Now: time.Now()})
	require.NoError(t, err, "one more fits")
	c, err := s.Stat(t.Context(), taskstate.StatParams{Pool: "p"})
	require.NoError(t, err)
	require.Equal(t, 2, c[taskstate.StatusWaiting])
}

// TestPlanLastSeq: a create finds its pool's last seq at the end of the
// pool's rowid range, not by reading the range.
func TestPlanLastSeq(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	lo, hi := seqRange(1)
	p := plan(t, s, sqlLastSeq, []any{lo, hi})
	require.Contains(t, p, "SEARCH tasks USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)", p)
}

// TestPoolRangesAfterRepeats: in a pool below the file's last, a chunk of
// keys that are all taken inserts nothing, and the new task after it
// still goes into the pool's range (SQLite's own next rowid would be the
// other pool's).
func TestPoolRangesAfterRepeats(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	create := func(pool string, tasks []taskstate.NewTask) []taskstate.CreatedTask {
		t.Helper()
		out, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: pool, Tasks: tasks, Now: time.Now()})
		require.NoError(t, err)
		return out
	}
	var keys []string
	for i := range insertChunk {
		keys = append(keys, fmt.Sprint("k", i))
	}
	first := create("a", newTasks(keys...))
	create("b", newTasks("other"))
	again := create("a", newTasks(append(keys, "new")...))
	for i := range keys {
		require.Equal(t, first[i].ID, again[i].ID)
		require.False(t, again[i].Created)
	}
	require.True(t, again[len(keys)].Created)
	got, err := s.Get(t.Context(), taskstate.GetParams{Pool: "a", ID: again[len(keys)].ID})
	require.NoError(t, err)
	lo, hi := seqRange(1)
	require.Greater(t, got.Seq, lo)
	require.Less(t, got.Seq, hi)
	var n int
	for task, err := range s.Query(t.Context(), taskstate.QueryParams{Pool: "a"}) {
		require.NoError(t, err)
		require.Greater(t, task.Seq, lo)
		n++
	}
	require.Equal(t, len(keys)+1, n)
}

// TestOlderBuildsTasksRenumbered: a process of a build before version 12,
// still running when the file moved to it, inserts a task as it did, at
// the file's next rowid (in the last pool's range). The next Open moves
// it into its own pool's range: pages find it, and dedup still does.
func TestOlderBuildsTasksRenumbered(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := openAt(t, path)
	for _, pool := range []string{"a", "b"} {
		_, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: pool, Tasks: newTasks("x"), Now: time.Now()})
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())

	older := newTasks("older")[0]
	db, err := openDB(path, time.Second) // the older build's own handle
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(t.Context(), `INSERT INTO tasks (id, pool, key, kh, kind, status, filter, created_at, updated_at)
		VALUES (?, 'a', ?, ?, 'noop', 'waiting', '{}', 1, 1); UPDATE pool_counts SET n = n + 1 WHERE pool = 'a' AND status = 'waiting'`,
		older.ID, keyArg(older.Key), keyHash("a", older.Key))
	require.NoError(t, err)

	s2 := openAt(t, path)
	var ids []string
	for task, err := range s2.Query(t.Context(), taskstate.QueryParams{Pool: "a"}) {
		require.NoError(t, err)
		lo, hi := seqRange(1)
		require.Greater(t, task.Seq, lo)
		require.Less(t, task.Seq, hi)
		ids = append(ids, task.ID)
	}
	require.Len(t, ids, 2)
	require.Equal(t, older.ID, ids[1], "after the pool's earlier task")
	again, err := s2.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "a", Tasks: newTasks("older"), Now: time.Now()})
	require.NoError(t, err)
	require.Equal(t, older.ID, again[0].ID, "dedup finds it")
	var strays bool
	require.NoError(t, db.QueryRowContext(t.Context(), sqlLastStray).Scan(&strays))
	require.False(t, strays)
}
