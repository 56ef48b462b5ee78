package taskstate_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestManagerAdmin runs the Manager over every backend: admin changes (reset, retry, prioritize, remove), Get and Stat.
func TestManagerAdmin(t *testing.T) {
	t.Parallel()
	runManagerCases(t, []managerCase{
		{name: "Admin/ResetWaitingDefaultsToRunning", fn: func(t *testing.T, e *env) {
			ids := e.create(specs("noop", 3)...)
			tasks := e.claim(taskstate.ClaimOptions{Limit: 2})
			require.NoError(t, e.m.Commit(e.ctx, tasks[1], nil, ""))
			n, err := e.m.ResetWaiting(e.ctx, taskstate.Query{})
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
			require.Equal(t, counts(2, 0, 0, 1, 0), e.stat())
			stored := e.get(ids[0])
			require.Empty(t, stored.Lease.Token, "a reset clears the lease")
			// The worker that held it is fenced out.
			requireLeaseLost(t, e.m.Commit(e.ctx, tasks[0], "stale", ""))
			lost, err := e.m.Heartbeat(e.ctx, []taskstate.LeaseRef{tasks[0].Ref()}, time.Minute)
			require.NoError(t, err)
			require.Equal(t, []string{tasks[0].ID}, lost)
			// Even after a new claim of the same task, the old token is refused.
			again := e.claimOne()
			require.Equal(t, ids[0], again.ID)
			requireLeaseLost(t, e.m.Commit(e.ctx, tasks[0], "stale", ""))
			require.NoError(t, e.m.Commit(e.ctx, again, "fresh", ""))
			res, err := e.m.DecodeRes(e.get(ids[0]))
			require.NoError(t, err)
			require.Equal(t, "fresh", res)
		}},

		{name: "Admin/ResetStatus", fn: func(t *testing.T, e *env) {
			ids := e.create(specs("noop", 3)...)
			n, err := e.m.ResetStatus(e.ctx, taskstate.ByIDs(ids[0], ids[1]), taskstate.StatusDone)
			require.NoError(t, err)
			require.Equal(t, int64(2), n)
			require.Equal(t, counts(1, 0, 0, 2, 0), e.stat())
			n, err = e.m.ResetStatus(e.ctx, taskstate.ByStatus(taskstate.StatusDone), taskstate.StatusPartDone)
			require.NoError(t, err)
			require.Equal(t, int64(2), n)
			require.Equal(t, counts(1, 0, 2, 0, 0), e.stat())
			_, err = e.m.ResetStatus(e.ctx, taskstate.Query{}, taskstate.StatusRunning)
			require.ErrorIs(t, err, taskstate.ErrInvalidStatus)
			_, err = e.m.ResetStatus(e.ctx, taskstate.Query{}, "finished")
			require.ErrorIs(t, err, taskstate.ErrInvalidStatus)
			require.Equal(t, counts(1, 0, 2, 0, 0), e.stat())
		}},

		{name: "Admin/RetryFailed", fn: func(t *testing.T, e *env) {
			ids := e.create(taskstate.TaskSpec{Kind: "noop", Def: 1, MaxAttempts: 1}, taskstate.TaskSpec{Kind: "noop", Def: 2})
			task := e.claimOne()
			_, err := e.m.Return(e.ctx, task, errors.New("poison"))
			require.NoError(t, err)
			require.Equal(t, counts(1, 0, 0, 0, 1), e.stat())
			n, err := e.m.RetryFailed(e.ctx, taskstate.Query{})
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
			stored := e.get(ids[0])
			require.Equal(t, taskstate.StatusWaiting, stored.Status)
			require.Equal(t, 0, stored.Attempts)
			require.Empty(t, stored.LastError)
			require.Equal(t, counts(2, 0, 0, 0, 0), e.stat())
		}},

		{name: "Admin/PrioritizeByIDAndQuery", fn: func(t *testing.T, e *env) {
			ids := e.create(specs("noop", 4)...)
			n, err := e.m.Prioritize(e.ctx, taskstate.ByIDs(ids[3]), 10)
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
			n, err = e.m.Prioritize(e.ctx, taskstate.Query{}.Where("filter.index", taskstate.OpGte, 2).Where("filter.index", taskstate.OpLt, 3), 5)
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
			require.Equal(t, 10, e.get(ids[3]).Priority)
			require.Equal(t, 5, e.get(ids[2]).Priority)
			require.Equal(t, ids[3], e.claimOne().ID)
			require.Equal(t, ids[2], e.claimOne().ID)
			require.Equal(t, ids[0], e.claimOne().ID)
		}},

		{name: "Admin/RemoveNeedsAllForEmptyQuery", fn: func(t *testing.T, e *env) {
			ids := e.create(specs("noop", 4)...)
			_, err := e.m.Remove(e.ctx, taskstate.Query{}, false)
			require.ErrorIs(t, err, taskstate.ErrEmptyQuery)
			require.Equal(t, 4, e.stat().Total())
			n, err := e.m.Remove(e.ctx, taskstate.ByIDs(ids[0]), false)
			require.NoError(t, err)
			require.Equal(t, int64(1), n)
			_, err = e.m.Get(e.ctx, ids[0])
			require.ErrorIs(t, err, taskstate.ErrNotFound)
			n, err = e.m.Remove(e.ctx, taskstate.Query{}, true)
			require.NoError(t, err)
			require.Equal(t, int64(3), n)
			require.Equal(t, counts(0, 0, 0, 0, 0), e.stat())
		}},

		{name: "Get/UnknownAndMalformedID", fn: func(t *testing.T, e *env) {
			e.create(specs("noop", 1)...)
			_, err := e.m.Get(e.ctx, taskstate.NewID())
			require.ErrorIs(t, err, taskstate.ErrNotFound)
			_, err = e.m.Get(e.ctx, "xyz")
			require.ErrorIs(t, err, taskstate.ErrNotFound)
		}},

		{name: "Stat/CountsEveryStatusAndFilters", fn: func(t *testing.T, e *env) {
			require.Equal(t, counts(0, 0, 0, 0, 0), e.stat())
			e.create(specs("noop", 6)...)
			e.create(taskstate.TaskSpec{Kind: "sleep", Def: "s"})
			tasks := e.claim(taskstate.ClaimOptions{Limit: 4})
			require.NoError(t, e.m.Commit(e.ctx, tasks[0], nil, ""))
			require.NoError(t, e.m.Commit(e.ctx, tasks[1], nil, taskstate.StatusPartDone))
			require.NoError(t, e.m.Fail(e.ctx, tasks[2], errors.New("x")))
			require.Equal(t, counts(3, 1, 1, 1, 1), e.stat())
			c, err := e.m.Stat(e.ctx, taskstate.Query{}.Where(taskstate.FieldKind, taskstate.OpEq, "sleep"))
			require.NoError(t, err)
			require.Equal(t, counts(1, 0, 0, 0, 0), c)
			require.Equal(t, 6, c.Total()+5)
			require.Equal(t, 5, e.stat().Undone())
		}},
	})
}
