package taskstatetest

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var finishCases = []Case{
	{Group: "Finish", Name: "AppliedPerItem", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 3)...)
		held := f.claim(taskstate.ClaimParams{Limit: 3})
		require.Equal(t, ids, taskIDs(held))
		require.Equal(t, []bool{true}, f.finish(commit(held[0], "first")))
		stale := commit(held[2], "stale")
		stale.Token = "not-the-token"
		applied := f.finish(
			commit(held[1], "ok"),    // running under its token
			stale,                    // wrong token
			commit(held[0], "again"), // no longer running
			commit(&taskstate.Task{ID: taskstate.NewID(), Lease: held[1].Lease}, "x"), // no such task
		)
		require.Equal(t, []bool{true, false, false, false}, applied)
		require.Equal(t, []byte("first"), f.get(ids[0]).Res)
		require.Equal(t, []byte("ok"), f.get(ids[1]).Res)
		kept := f.get(ids[2])
		require.Equal(t, taskstate.StatusRunning, kept.Status)
		require.Equal(t, held[2].Lease, kept.Lease)
		require.Nil(t, kept.Res)
		require.Equal(t, counts(0, 1, 0, 2, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Finish", Name: "FencedByToken", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		id := f.create(task("noop", 0))[0]
		first := f.claimOne()
		wrong := commit(first, "wrong token")
		wrong.Token = taskstate.NewToken()
		require.Equal(t, []bool{false}, f.finish(wrong))
		require.Equal(t, taskstate.StatusRunning, f.get(id).Status)
		// The reaper takes it back; a new claim gets a new token.
		require.Equal(t, []bool{true}, f.finish(taskstate.Transition{ID: id, Token: first.Lease.Token, To: taskstate.StatusWaiting}))
		second := f.claimOne()
		require.NotEqual(t, first.Lease.Token, second.Lease.Token)
		require.Equal(t, []bool{false}, f.finish(commit(first, "zombie")), "the first claim's token is fenced out")
		require.Equal(t, []bool{true}, f.finish(commit(second, "fresh")))
		require.Equal(t, []bool{false}, f.finish(commit(second, "twice")), "a claim finishes once")
		stored := f.get(id)
		require.Equal(t, taskstate.StatusDone, stored.Status)
		require.Equal(t, []byte("fresh"), stored.Res)
		require.Equal(t, counts(0, 0, 0, 1, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Finish", Name: "TransitionFields", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 3)...)
		held := f.claim(taskstate.ClaimParams{Limit: 3})
		f.advance(time.Second)
		// A return: back to waiting with an error and a backoff; res is
		// left alone, the lease and claimed_from go.
		applied := f.finish(
			taskstate.Transition{ID: ids[0], Token: held[0].Lease.Token, To: taskstate.StatusWaiting, SetError: true, LastError: "boom", RunAfter: f.now.Add(time.Hour)},
			taskstate.Transition{ID: ids[1], Token: held[1].Lease.Token, To: taskstate.StatusWaiting, UndoAttempt: true},
			taskstate.Transition{ID: ids[2], Token: held[2].Lease.Token, To: taskstate.StatusFailed, SetError: true, LastError: "poison"},
		)
		require.Equal(t, []bool{true, true, true}, applied)
		returned := f.get(ids[0])
		require.Equal(t, taskstate.StatusWaiting, returned.Status)
		require.Equal(t, "boom", returned.LastError)
		require.Equal(t, f.now.Add(time.Hour), returned.RunAfter)
		require.Equal(t, 1, returned.Attempts)
		require.Equal(t, taskstate.Lease{}, returned.Lease)
		require.Empty(t, returned.ClaimedFrom)
		require.Equal(t, f.now, returned.UpdatedAt)
		released := f.get(ids[1])
		require.Equal(t, taskstate.StatusWaiting, released.Status)
		require.Equal(t, 0, released.Attempts, "a release gives the attempt back")
		require.True(t, released.RunAfter.IsZero())
		failed := f.get(ids[2])
		require.Equal(t, taskstate.StatusFailed, failed.Status)
		require.Equal(t, "poison", failed.LastError)
		require.Equal(t, f.now, failed.FinishedAt)
		require.Equal(t, taskstate.Lease{}, failed.Lease)
		// A commit stores res and stamps finished_at; last_error stays.
		f.advance(time.Hour)
		again := f.claimOne()
		require.Equal(t, ids[0], again.ID)
		f.advance(time.Second)
		require.Equal(t, []bool{true}, f.finish(commit(again, "result")))
		done := f.get(ids[0])
		require.Equal(t, taskstate.StatusDone, done.Status)
		require.Equal(t, []byte("result"), done.Res)
		require.Equal(t, f.now, done.FinishedAt)
		require.Equal(t, "boom", done.LastError, "a transition without SetError leaves last_error")
		require.True(t, done.RunAfter.IsZero())
		require.Equal(t, taskstate.Lease{}, done.Lease)
		require.Equal(t, counts(1, 0, 0, 1, 1), f.stat(taskstate.Query{}))
	}},

	// Both backends refuse a batch holding a transition no operation
	// makes, the same way, and write nothing of it.
	{Group: "Finish", Name: "InvalidTransitionRefused", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 2)...)
		held := f.claim(taskstate.ClaimParams{Limit: 2})
		ref := taskstate.Transition{ID: ids[1], Token: held[1].Lease.Token}
		for name, bad := range map[string]taskstate.Transition{
			"to running":           {To: taskstate.StatusRunning},
			"to an unknown status": {To: "finished"},
			"to no status":         {},
			"a result to waiting":  {To: taskstate.StatusWaiting, SetRes: true, Res: []byte("r")},
			"a result to failed":   {To: taskstate.StatusFailed, SetRes: true, Res: []byte("r")},
			"a release to done":    {To: taskstate.StatusDone, UndoAttempt: true},
		} {
			bad.ID, bad.Token = ref.ID, ref.Token
			applied, err := s.Finish(ctx, taskstate.FinishParams{Pool: f.pool, Now: f.now, Items: []taskstate.Transition{commit(held[0], "ok"), bad}})
			require.ErrorIs(t, err, taskstate.ErrInvalidTransition, "%s", name)
			require.Nil(t, applied, "%s", name)
		}
		for i, id := range ids {
			stored := f.get(id)
			require.Equal(t, taskstate.StatusRunning, stored.Status, "task %d", i)
			require.Equal(t, held[i].Lease, stored.Lease, "task %d", i)
			require.Nil(t, stored.Res, "task %d", i)
		}
		require.Equal(t, counts(0, 2, 0, 0, 0), f.stat(taskstate.Query{}))
		require.Equal(t, counts(0, 2, 0, 0, 0), f.scan())
	}},
}
