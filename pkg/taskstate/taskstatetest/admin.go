package taskstatetest

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var adminCases = []Case{
	// A reset clears the lease, so the worker that still runs the task is
	// fenced out, even after someone else claimed it again.
	{Group: "Update", Name: "StatusClearsLease", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 2)...)
		held := f.claim(taskstate.ClaimParams{Limit: 2})
		require.Equal(t, int64(1), f.update(taskstate.UpdateParams{Query: taskstate.ByIDs(ids[0]), Status: taskstate.StatusWaiting}))
		stored := f.get(ids[0])
		require.Equal(t, taskstate.StatusWaiting, stored.Status)
		require.Equal(t, taskstate.Lease{}, stored.Lease)
		require.Empty(t, stored.ClaimedFrom)
		require.True(t, stored.RunAfter.IsZero())
		require.Equal(t, counts(1, 1, 0, 0, 0), f.stat(taskstate.Query{}))

		require.Equal(t, []bool{false}, f.finish(commit(held[0], "stale")))
		lost, err := s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: f.pool, Now: f.now, Lease: time.Minute, Leases: []taskstate.LeaseRef{held[0].Ref()}})
		require.NoError(t, err)
		require.Equal(t, []string{ids[0]}, lost)
		again := f.claimOne()
		require.Equal(t, ids[0], again.ID)
		require.Equal(t, []bool{false}, f.finish(commit(held[0], "stale")), "the old token stays fenced out after a new claim")
		require.Equal(t, []bool{true, true}, f.finish(commit(again, "fresh"), commit(held[1], "other")))
		require.Equal(t, []byte("fresh"), f.get(ids[0]).Res)
		require.Equal(t, counts(0, 0, 0, 2, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Update", Name: "AttemptsAndPriority", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 3)...)
		task := f.claimOne()
		require.Equal(t, []bool{true}, f.finish(taskstate.Transition{ID: task.ID, Token: task.Lease.Token, To: taskstate.StatusFailed, SetError: true, LastError: "poison"}))
		require.Equal(t, int64(1), f.update(taskstate.UpdateParams{Query: taskstate.ByStatus(taskstate.StatusFailed), Status: taskstate.StatusWaiting, ResetAttempts: true}))
		stored := f.get(ids[0])
		require.Equal(t, taskstate.StatusWaiting, stored.Status)
		require.Equal(t, 0, stored.Attempts)
		require.Empty(t, stored.LastError)
		prio := 7
		require.Equal(t, int64(2), f.update(taskstate.UpdateParams{Query: taskstate.Query{}.Where("filter.i", taskstate.OpGte, 1), Priority: &prio}))
		require.Equal(t, 7, f.get(ids[1]).Priority)
		require.Equal(t, 7, f.get(ids[2]).Priority)
		require.Equal(t, 0, f.get(ids[0]).Priority)
		require.Equal(t, taskstate.StatusWaiting, f.get(ids[1]).Status, "an update without Status keeps it")
		require.Equal(t, int64(0), f.update(taskstate.UpdateParams{Query: taskstate.ByStatus(taskstate.StatusDone), Status: taskstate.StatusWaiting}))
		require.Equal(t, counts(3, 0, 0, 0, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Delete", Name: "ByQuery", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 4)...)
		f.claimOne()
		del := func(q taskstate.Query) int64 {
			t.Helper()
			n, err := s.Delete(ctx, taskstate.DeleteParams{Pool: f.pool, Query: q})
			require.NoError(t, err)
			return n
		}
		require.Equal(t, int64(1), del(taskstate.ByIDs(ids[1])))
		_, err := s.Get(ctx, taskstate.GetParams{Pool: f.pool, ID: ids[1]})
		require.ErrorIs(t, err, taskstate.ErrNotFound)
		require.Equal(t, int64(2), del(taskstate.Query{}.Where("filter.i", taskstate.OpGte, 2)))
		require.Equal(t, int64(0), del(taskstate.Query{}.Where("filter.i", taskstate.OpGte, 2)))
		require.Equal(t, counts(0, 1, 0, 0, 0), f.stat(taskstate.Query{}))
		require.Equal(t, int64(1), del(taskstate.Query{}))
		require.Equal(t, counts(0, 0, 0, 0, 0), f.stat(taskstate.Query{}))
		require.Empty(t, f.ids(taskstate.Query{}))
	}},
}
