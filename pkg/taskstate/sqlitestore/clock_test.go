package sqlitestore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestClaimLeaseStartsAfterWriterWait: a claim that waits for the writer
// reads the clock once it has it, so its lease runs Lease from then, not
// from when the claim was asked for: a wait for the writer does not
// shorten a lease.
func TestClaimLeaseStartsAfterWriterWait(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	ctx := t.Context()
	_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: "p", Tasks: newTasks("a", "b"), Now: time.Now()})
	require.NoError(t, err)
	const lease = time.Minute
	claim := taskstate.ClaimParams{Pool: "p", From: taskstate.StatusWaiting, Owner: "o", Token: "t", Lease: lease, Limit: 1, Woken: true}
	// A first claim prepares the statement, so that the second waits for
	// the writer in its transaction, not while preparing.
	first, err := s.Claim(ctx, claim)
	require.NoError(t, err)
	require.Len(t, first, 1)

	// Hold the writer (its one connection) while the claim asks for it.
	held, err := s.w.BeginTx(ctx, nil)
	require.NoError(t, err)
	waits := s.w.Stats().WaitCount
	type result struct {
		tasks []*taskstate.Task
		err   error
	}
	done := make(chan result, 1)
	go func() {
		tasks, err := s.Claim(ctx, claim)
		done <- result{tasks, err}
	}()
	require.Eventually(t, func() bool { return s.w.Stats().WaitCount > waits }, 10*time.Second, time.Millisecond, "the claim waits for the writer")
	// Not a wait for the claim: the clock moves on while it waits, by
	// more than the store's millisecond.
	time.Sleep(20 * time.Millisecond)
	released := time.Now().Truncate(time.Millisecond)
	require.NoError(t, held.Rollback())

	r := <-done
	require.NoError(t, r.err)
	require.Len(t, r.tasks, 1)
	require.False(t, r.tasks[0].Lease.Until.Before(released.Add(lease)),
		"lease ends %v, want at least the writer's release %v + %v", r.tasks[0].Lease.Until, released, lease)
	require.True(t, r.tasks[0].Lease.Until.Before(time.Now().Add(lease)))
}
