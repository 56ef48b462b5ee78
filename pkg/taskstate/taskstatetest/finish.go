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
			taskstate.Transition{ID: ids[0], Token: held[0].Lease.Token, To: taskstate.StatusWaiting, SetError: true, LastError: "boom", Delay: time.Hour},
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

	// Attempts are counted per phase: the commit of phase one sets them
	// back to 0, so phase two gets the whole budget; a retry or a release
	// of phase two does not. Both commit shapes (with and without Seq)
	// reset, and the fence still holds.
	{Group: "Finish", Name: "AttemptsPerPhase", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		nts := tasks(0, 2)
		for i := range nts {
			nts[i].MaxAttempts = 2
		}
		ids := f.create(nts...)
		first := f.claim(taskstate.ClaimParams{Limit: 2})
		require.Equal(t, ids, taskIDs(first))
		for _, c := range first {
			require.Equal(t, 1, c.Attempts)
		}
		retry := func(c *taskstate.Task, to taskstate.Status) taskstate.Transition {
			return taskstate.Transition{ID: c.ID, Token: c.Lease.Token, To: to, SetError: true, LastError: "retry"}
		}
		require.Equal(t, []bool{true, true}, f.finish(retry(first[0], taskstate.StatusWaiting), retry(first[1], taskstate.StatusWaiting)))
		second := f.claim(taskstate.ClaimParams{Limit: 2})
		require.Equal(t, ids, taskIDs(second))
		for _, c := range second {
			require.Equal(t, 2, c.Attempts, "the retry in phase one counted")
		}
		toPartDone := func(c *taskstate.Task, seq int64) taskstate.Transition {
			tr := commit(c, "phase one")
			tr.To, tr.Seq = taskstate.StatusPartDone, seq
			return tr
		}
		stale := toPartDone(second[0], 0)
		stale.Token = first[0].Lease.Token
		require.Equal(t, []bool{false}, f.finish(stale), "an old claim's commit is fenced out")
		require.Equal(t, 2, f.get(ids[0]).Attempts)
		require.Equal(t, []bool{true, true}, f.finish(toPartDone(second[0], 0), toPartDone(second[1], second[1].Seq)))
		for i, id := range ids {
			got := f.get(id)
			require.Equal(t, taskstate.StatusPartDone, got.Status, "task %d", i)
			require.Equal(t, 0, got.Attempts, "task %d: phase two starts with the whole budget", i)
		}
		require.ElementsMatch(t, ids, f.ids(taskstate.Query{}.Where(taskstate.FieldAttempts, taskstate.OpEq, 0)))
		// Phase two: a release gives its attempt back, a retry counts, and
		// max_attempts applies to phase two's own claims.
		p2 := f.claim(taskstate.ClaimParams{From: taskstate.StatusPartDone, Limit: 2})
		require.Equal(t, ids, taskIDs(p2))
		for _, c := range p2 {
			require.Equal(t, 1, c.Attempts)
			require.Equal(t, []byte("phase one"), c.Res)
		}
		require.Equal(t, []bool{true, true}, f.finish(
			taskstate.Transition{ID: ids[0], Token: p2[0].Lease.Token, To: taskstate.StatusPartDone, UndoAttempt: true},
			retry(p2[1], taskstate.StatusPartDone)))
		require.Equal(t, 0, f.get(ids[0]).Attempts, "a release gives phase two's attempt back")
		require.Equal(t, 1, f.get(ids[1]).Attempts, "a retry of phase two is not a new phase")
		p2 = f.claim(taskstate.ClaimParams{From: taskstate.StatusPartDone, Limit: 2})
		require.Equal(t, ids, taskIDs(p2))
		require.Equal(t, 1, p2[0].Attempts)
		require.Equal(t, 2, p2[1].Attempts)
		require.Equal(t, p2[1].MaxAttempts, p2[1].Attempts, "phase two's budget is max_attempts")
		require.Equal(t, []bool{true, true}, f.finish(commit(p2[0], "done"), taskstate.Transition{ID: ids[1], Token: p2[1].Lease.Token, To: taskstate.StatusFailed, SetError: true, LastError: "spent"}))
		require.Equal(t, 1, f.get(ids[0]).Attempts, "a commit to done keeps the count")
		require.Equal(t, 2, f.get(ids[1]).Attempts)
		require.Equal(t, counts(0, 0, 0, 1, 1), f.stat(taskstate.Query{}))
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
