package taskstate_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestManagerOps runs the operator's Manager methods over every backend:
// Cancel, RetryFailedWith, Pause/Resume and the worker registry.
func TestManagerOps(t *testing.T) {
	t.Parallel()
	runManagerCases(t, []managerCase{
		{name: "Ops/CancelEndsOnlyUnfinishedTasks", fn: func(t *testing.T, e *env) {
			ids := e.create(specs("noop", 4)...)
			tasks := e.claim(taskstate.ClaimOptions{Limit: 2})
			require.NoError(t, e.m.Commit(e.ctx, tasks[1], "r", taskstate.StatusDone)) // ids[1] done, ids[0] running
			_, err := e.m.Cancel(e.ctx, taskstate.CancelParams{Reason: "x"})
			require.ErrorIs(t, err, taskstate.ErrEmptyQuery, "a whole pool is not cancelled by accident")
			failedBefore := e.notes.count(taskstate.EventFailed)
			n, err := e.m.Cancel(e.ctx, taskstate.CancelParams{Query: taskstate.ByIDs(ids[:3]...), Reason: "  wrong window "})
			require.NoError(t, err)
			require.Equal(t, int64(2), n, "the done task is not cancelled")
			require.Equal(t, failedBefore+2, e.notes.count(taskstate.EventFailed))
			require.Equal(t, counts(1, 0, 0, 1, 2), e.stat())
			for _, id := range []string{ids[0], ids[2]} {
				got := e.get(id)
				require.Equal(t, "cancelled: wrong window", got.LastError)
				require.True(t, got.IsCancelled())
			}
			require.False(t, e.get(ids[1]).IsCancelled())
			requireLeaseLost(t, e.m.Commit(e.ctx, tasks[0], "late", taskstate.StatusDone))
			n, err = e.m.Cancel(e.ctx, taskstate.CancelParams{Query: taskstate.ByIDs(ids[3])})
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
			require.Equal(t, "cancelled: no reason given", e.get(ids[3]).LastError)
		}},

		{name: "Ops/RetryFailedKeepsCancelled", fn: func(t *testing.T, e *env) {
			ids := e.create(specs("noop", 3)...)
			_, err := e.m.Cancel(e.ctx, taskstate.CancelParams{Query: taskstate.ByIDs(ids[0]), Reason: "stop"})
			require.NoError(t, err)
			// A handler's error that reads like a cancellation is not one.
			for _, task := range e.claim(taskstate.ClaimOptions{Limit: 2}) {
				require.NoError(t, e.m.Fail(e.ctx, task, errors.New("cancelled: by the handler")))
			}
			require.Equal(t, "failed: cancelled: by the handler", e.get(ids[1]).LastError)
			require.False(t, e.get(ids[1]).IsCancelled())
			n, err := e.m.RetryFailed(e.ctx, taskstate.Query{})
			require.NoError(t, err)
			require.Equal(t, int64(2), n)
			require.Equal(t, counts(2, 0, 0, 0, 1), e.stat())
			n, err = e.m.RetryFailedWith(e.ctx, taskstate.Query{}, taskstate.RetryOptions{IncludeCancelled: true})
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
			require.Equal(t, counts(3, 0, 0, 0, 0), e.stat())
		}},

		{name: "Ops/PauseAndResume", fn: func(t *testing.T, e *env) {
			e.create(specs("noop", 3)...)
			running := e.claimOne()
			require.NoError(t, e.m.Pause(e.ctx, "deploy"))
			st, err := e.m.PoolState(e.ctx)
			require.NoError(t, err)
			require.Equal(t, taskstate.PoolState{Paused: true, Reason: "deploy", PausedAt: e.clock.Now()}, normalize(st))
			got, err := e.m.Claim(e.ctx, taskstate.ClaimOptions{Limit: 5})
			require.NoError(t, err)
			require.Empty(t, got)
			other := e.manager("pool_b")
			st, err = other.PoolState(e.ctx)
			require.NoError(t, err)
			require.False(t, st.Paused, "pause is per pool")
			require.NoError(t, e.m.Commit(e.ctx, running, "ok", taskstate.StatusDone), "a running task finishes while paused")
			available := e.notes.count(taskstate.EventAvailable)
			require.NoError(t, e.m.Resume(e.ctx))
			require.Equal(t, available+2, e.notes.count(taskstate.EventAvailable), "resume wakes a worker for each waiting task")
			require.Len(t, e.claim(taskstate.ClaimOptions{Limit: 5}), 2)
		}},

		{name: "Ops/WorkersAndUnserved", fn: func(t *testing.T, e *env) {
			ws, err := e.m.Workers(e.ctx)
			require.NoError(t, err)
			require.Empty(t, ws)
			unserved, err := e.m.Unserved(e.ctx, []string{"sleep", "noop", "sleep"})
			require.NoError(t, err)
			require.Equal(t, []string{"sleep", "noop"}, unserved)
			now := e.clock.Now()
			require.NoError(t, e.store.PutWorker(e.ctx, taskstate.PutWorkerParams{Pool: "pool_a", Worker: taskstate.WorkerInfo{
				ID: "w1", Kinds: []string{"noop"}, SeenAt: now, ExpiresAt: now.Add(30 * time.Second)}}))
			unserved, err = e.m.Unserved(e.ctx, []string{"sleep", "noop"})
			require.NoError(t, err)
			require.Equal(t, []string{"sleep"}, unserved)
			e.clock.Advance(31 * time.Second)
			unserved, err = e.m.Unserved(e.ctx, []string{"noop"})
			require.NoError(t, err)
			require.Equal(t, []string{"noop"}, unserved, "a worker without a heartbeat for a lease is gone")
		}},
	})
}

// normalize puts a PoolState's time in UTC for comparison.
func normalize(st taskstate.PoolState) taskstate.PoolState {
	st.PausedAt = st.PausedAt.UTC()
	return st
}
