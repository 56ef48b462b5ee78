package sqlitestore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

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

// TestCreateKeyHashShared: the dedup index holds a hash of the pool and
// key, so the create looks at the rows of that hash: a row of another key
// under the same hash (forced here), or of the same key in another pool,
// does not make a new task a repeat.
func TestCreateKeyHashShared(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	ctx := t.Context()
	a, b := newTasks("a"), newTasks("b")
	_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Tasks: a, Now: time.Now()})
	require.NoError(t, err)
	_, err = s.w.ExecContext(ctx, `UPDATE tasks SET kh = ? WHERE id = ?`, keyHash("p", b[0].Key), a[0].ID)
	require.NoError(t, err)

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
}
