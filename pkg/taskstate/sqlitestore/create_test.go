package sqlitestore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sourcegraph/conc/pool"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// newTasks returns one task per key name, each with a fresh id.
func newTasks(names ...string) []taskstate.NewTask {
	out := make([]taskstate.NewTask, len(names))
	for i, n := range names {
		k := sha256.Sum256([]byte(n))
		out[i] = taskstate.NewTask{ID: taskstate.NewID(), Kind: "k", Key: hex.EncodeToString(k[:]), Def: []byte{1}, FilterJSON: []byte(`{}`)}
	}
	return out
}

// TestCreateChunksMixed: a create whose many-row chunks hold tasks already
// in the pool and repeats of one another reports, per task, the id under
// its key and whether this call inserted it, and counts only those.
func TestCreateChunksMixed(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	ctx := t.Context()
	var first []string
	for i := range insertChunk + 3 {
		first = append(first, fmt.Sprint("old", i))
	}
	old := newTasks(first...)
	out, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Tasks: old, Now: time.Now()})
	require.NoError(t, err)
	for i, r := range out {
		require.Equal(t, taskstate.CreatedTask{ID: old[i].ID, Created: true}, r, "task %d", i)
	}

	// Three whole chunks and a tail: old keys every fifth task, a repeat
	// of the task before every seventh.
	var names []string
	for i := range 3*insertChunk + 5 {
		switch {
		case i%5 == 0:
			names = append(names, fmt.Sprint("old", i%len(first)))
		case i%7 == 0:
			names = append(names, names[i-1])
		default:
			names = append(names, fmt.Sprint("new", i))
		}
	}
	tasks := newTasks(names...)
	out, err = s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Tasks: tasks, Now: time.Now()})
	require.NoError(t, err)
	byName := map[string]string{}
	for i, o := range old {
		byName[first[i]] = o.ID
	}
	created := 0
	for i, r := range out {
		id, seen := byName[names[i]]
		if !seen {
			require.Equal(t, taskstate.CreatedTask{ID: tasks[i].ID, Created: true}, r, "task %d (%s)", i, names[i])
			byName[names[i]] = tasks[i].ID
			created++
			continue
		}
		require.Equal(t, taskstate.CreatedTask{ID: id}, r, "task %d (%s) is in the pool", i, names[i])
	}
	c, err := s.Stat(ctx, taskstate.StatParams{Pool: "p"})
	require.NoError(t, err)
	require.Equal(t, len(first)+created, c[taskstate.StatusWaiting], "the count is of the rows inserted")
	require.Equal(t, len(first)+created, c.Total())

	// seq, the creation order claims follow, is the order of the call.
	var want []string
	for _, o := range old {
		want = append(want, o.ID)
	}
	for i, r := range out {
		if r.Created {
			want = append(want, tasks[i].ID)
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM tasks WHERE pool = 'p' ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		got = append(got, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, want, got)
}

// TestCreateKeyHashShared: the dedup tables hold a hash of the pool and
// key, so the create looks at the rows of that hash: a row of another key
// under the same hash (forced here), or of the same key in another pool,
// does not make a new task a repeat. The row under the hash is in
// task_keys_recent, or in task_keys after a merge.
func TestCreateKeyHashShared(t *testing.T) {
	t.Parallel()
	for _, merged := range []bool{false, true} {
		t.Run(fmt.Sprint("merged=", merged), func(t *testing.T) {
			t.Parallel()
			s := openPlanStore(t)
			if merged {
				s.mergeAt = 1
			}
			ctx := t.Context()
			a, b := newTasks("a"), newTasks("b")
			_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Tasks: a, Now: time.Now()})
			require.NoError(t, err)
			s.mergeAt = mergeAt
			want := map[bool]string{false: "task_keys_recent", true: "task_keys"}[merged]
			require.Equal(t, want, forceKeyHash(t, s, a[0].ID, keyHash("p", b[0].Key)))

			// A whole chunk and a single row, each with b's key among new ones.
			var names []string
			for i := range insertChunk - 1 {
				names = append(names, fmt.Sprint("new", i))
			}
			for _, tasks := range [][]taskstate.NewTask{append(newTasks(names...), b[0]), b} {
				out, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Tasks: tasks, Now: time.Now()})
				require.NoError(t, err)
				last := out[len(out)-1]
				require.Equal(t, b[0].ID, last.ID, "b under a's hash is new the first time, then found")
			}
			other := newTasks("a")
			out, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "q", Tasks: other, Now: time.Now()})
			require.NoError(t, err)
			require.Equal(t, []taskstate.CreatedTask{{ID: other[0].ID, Created: true}}, out, "the same key in another pool")
		})
	}
}

// forceKeyHash gives task id the hash kh, in tasks and in the dedup table
// that holds its entry, and returns that table's name.
func forceKeyHash(t *testing.T, s *Store, id string, kh int64) string {
	t.Helper()
	ctx := t.Context()
	var seq, old int64
	require.NoError(t, s.w.QueryRowContext(ctx, `SELECT seq, kh FROM tasks WHERE id = ?`, id).Scan(&seq, &old))
	_, err := s.w.ExecContext(ctx, `UPDATE tasks SET kh = ? WHERE seq = ?`, kh, seq)
	require.NoError(t, err)
	held := ""
	for _, tbl := range []string{"task_keys", "task_keys_recent"} {
		res, err := s.w.ExecContext(ctx, `UPDATE `+tbl+` SET kh = ? WHERE kh = ? AND seq = ?`, kh, old, seq)
		require.NoError(t, err)
		if n, _ := res.RowsAffected(); n == 1 {
			require.Empty(t, held, "an entry in both tables")
			held = tbl
		}
	}
	return held
}

// keyEntries returns the number of entries in task_keys and in
// task_keys_recent.
func keyEntries(t *testing.T, s *Store) (merged, recent int) {
	t.Helper()
	require.NoError(t, s.r.QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM task_keys), (SELECT count(*) FROM task_keys_recent)`).Scan(&merged, &recent))
	return merged, recent
}

// TestCreateMergesRecentKeys: creates add their keys to task_keys_recent
// until it holds mergeAt, then the create that reaches it moves them all
// into task_keys. A key is found wherever its entry is, a deleted task's
// entry goes with it, and a store opened on the file counts the entries
// already there.
func TestCreateMergesRecentKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := openAt(t, path)
	s.mergeAt = 100
	ctx := t.Context()
	names := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprint("t", i))
		}
		return out
	}
	create := func(s *Store, tasks []taskstate.NewTask) []taskstate.CreatedTask {
		out, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Tasks: tasks, Now: time.Now()})
		require.NoError(t, err)
		return out
	}
	first := newTasks(names(0, 90)...)
	create(s, first)
	merged, recent := keyEntries(t, s)
	require.Equal(t, [2]int{0, 90}, [2]int{merged, recent})

	// 90 + 20 reaches 100: all 110 move.
	create(s, newTasks(names(90, 110)...))
	merged, recent = keyEntries(t, s)
	require.Equal(t, [2]int{110, 0}, [2]int{merged, recent})
	create(s, newTasks(names(110, 115)...))
	merged, recent = keyEntries(t, s)
	require.Equal(t, [2]int{110, 5}, [2]int{merged, recent})

	// Repeats of merged and of recent keys are found, with one new task.
	again := create(s, newTasks("t0", "t89", "t112", "t115"))
	require.Equal(t, first[0].ID, again[0].ID)
	require.Equal(t, first[89].ID, again[1].ID)
	require.False(t, again[0].Created || again[1].Created || again[2].Created)
	require.True(t, again[3].Created)
	merged, recent = keyEntries(t, s)
	require.Equal(t, [2]int{110, 6}, [2]int{merged, recent})

	// A deleted task takes its entry with it, merged or recent, and its
	// key creates a new task.
	n, err := s.Delete(ctx, taskstate.DeleteParams{Pool: "p", Query: taskstate.ByIDs(first[0].ID, again[3].ID)})
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	merged, recent = keyEntries(t, s)
	require.Equal(t, [2]int{109, 5}, [2]int{merged, recent})
	out := create(s, newTasks("t0"))
	require.True(t, out[0].Created)
	require.NotEqual(t, first[0].ID, out[0].ID)

	// Another store on the file starts from the 6 recent entries: 94 more
	// reach 100.
	s2 := openAt(t, path)
	s2.mergeAt = 100
	require.EqualValues(t, 6, s2.recentKeys.Load())
	create(s2, newTasks(names(200, 293)...))
	merged, recent = keyEntries(t, s2)
	require.Equal(t, [2]int{109, 99}, [2]int{merged, recent})
	create(s2, newTasks("t293"))
	merged, recent = keyEntries(t, s2)
	require.Equal(t, [2]int{209, 0}, [2]int{merged, recent})
}

// TestConcurrentCreatorsMerge: stores on one file create the same keys in
// different orders and small batches while each moves the recent entries
// at a low threshold: every key is one task, whichever table holds its
// entry when another store looks, and each task has one entry.
func TestConcurrentCreatorsMerge(t *testing.T) {
	t.Parallel()
	const stores, keys, batch = 6, 600, 37
	path := filepath.Join(t.TempDir(), "tasks.db")
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprint("k", i)
	}
	ids := make([]map[string]string, stores) // key name -> id, per store
	g := pool.New().WithErrors()
	for c := range stores {
		g.Go(func() error {
			s, err := Open(t.Context(), Config{Path: path})
			if err != nil {
				return err
			}
			defer s.Close()
			s.mergeAt = 50
			order := slices.Clone(names)
			rand.New(rand.NewPCG(uint64(c), 1)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			ids[c] = map[string]string{}
			for off := 0; off < keys; off += batch {
				chunk := order[off:min(off+batch, keys)]
				out, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: "p", Tasks: newTasks(chunk...), Now: time.Now()})
				if err != nil {
					return err
				}
				for i, name := range chunk {
					ids[c][name] = out[i].ID
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	for c := 1; c < stores; c++ {
		require.Equal(t, ids[0], ids[c], "store %d got other ids", c)
	}
	s := openAt(t, path)
	counts, err := s.Stat(t.Context(), taskstate.StatParams{Pool: "p"})
	require.NoError(t, err)
	require.Equal(t, keys, counts.Total())
	merged, recent := keyEntries(t, s)
	require.Equal(t, keys, merged+recent)
	require.Positive(t, merged, "some creates moved the entries")
}
