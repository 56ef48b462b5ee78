package sqlitestore

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// createN creates n tasks of kind noop in pool p, with defs of 100 bytes,
// and returns their ids.
func createN(t testing.TB, s *Store, p string, n int, priority int) []string {
	t.Helper()
	var nts []taskstate.NewTask
	for i := range n {
		nts = append(nts, taskstate.NewTask{ID: taskstate.NewID(), Kind: "noop", Key: fmt.Sprint(i), Priority: priority,
			MaxAttempts: 3, Def: make([]byte, 100), FilterJSON: []byte(`{}`)})
	}
	_, err := s.CreateTasks(t.Context(), taskstate.CreateTasksParams{Pool: p, Now: time.Now(), Tasks: nts})
	require.NoError(t, err)
	ids := make([]string, n)
	for i, nt := range nts {
		ids[i] = nt.ID
	}
	return ids
}

// TestScanClaimedIntegers: a claimed task carries the integers of its row,
// and a row whose integer column holds something else fails the claim
// with an error naming the column, claiming nothing.
func TestScanClaimedIntegers(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	ids := createN(t, s, "p", 2, 7)
	_, err := s.w.ExecContext(t.Context(), `UPDATE tasks SET attempts = 1, run_after = 5 WHERE id = ?`, ids[0])
	require.NoError(t, err)
	claim := taskstate.ClaimParams{Pool: "p", From: taskstate.StatusWaiting, Owner: "o", Token: "t", Lease: time.Minute, Limit: 1}
	got, err := s.Claim(t.Context(), claim)
	require.NoError(t, err)
	require.Len(t, got, 1)
	task := got[0]
	require.Equal(t, ids[0], task.ID)
	require.Equal(t, 7, task.Priority)
	require.Equal(t, 2, task.Attempts) // 1, then this claim
	require.Equal(t, 3, task.MaxAttempts)
	require.Equal(t, int64(5), task.RunAfter.UnixNano())
	require.Positive(t, task.Seq)
	require.False(t, task.CreatedAt.IsZero())
	require.Equal(t, time.Minute, task.Lease.Until.Sub(task.StartedAt))

	_, err = s.w.ExecContext(t.Context(), `UPDATE tasks SET max_attempts = 'three' WHERE id = ?`, ids[1])
	require.NoError(t, err)
	got, err = s.Claim(t.Context(), claim)
	require.ErrorContains(t, err, "task "+ids[1]+": max_attempts is string, not an integer")
	require.Empty(t, got)
	var status string
	require.NoError(t, s.r.QueryRowContext(t.Context(), `SELECT status FROM tasks WHERE id = ?`, ids[1]).Scan(&status))
	require.Equal(t, "waiting", status)
}

// BenchmarkScanClaimed reads 100 rows of a claim's columns.
func BenchmarkScanClaimed(b *testing.B) {
	s, err := Open(b.Context(), Config{Path: b.TempDir() + "/tasks.db"})
	require.NoError(b, err)
	defer s.Close()
	createN(b, s, "p", 100, 0)
	st, err := s.r.PrepareContext(b.Context(), `SELECT `+claimCols+`, created_at FROM tasks`)
	require.NoError(b, err)
	p := taskstate.ClaimParams{Pool: "p", Owner: "o", Token: "t", Lease: time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		rows, err := st.QueryContext(b.Context())
		require.NoError(b, err)
		ts, err := scanClaimed(rows, p)
		require.NoError(b, err)
		require.Len(b, ts, 100)
	}
}
