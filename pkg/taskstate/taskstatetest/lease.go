package taskstatetest

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var leaseCases = []Case{
	{Group: "Heartbeat", Name: "ExtendsAndReportsLost", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		f.create(tasks(0, 3)...)
		held := f.claim(taskstate.ClaimParams{Limit: 3})
		require.Equal(t, []bool{true}, f.finish(commit(held[2], "r")))
		f.advance(30 * time.Second)
		until := f.now.Add(time.Minute)
		unknown := taskstate.LeaseRef{ID: taskstate.NewID(), Token: held[0].Lease.Token}
		lost, err := s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: f.pool, Now: f.now, Lease: time.Minute,
			Leases: []taskstate.LeaseRef{held[0].Ref(), held[1].Ref(), held[2].Ref(), unknown}})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{held[2].ID, unknown.ID}, lost)
		require.Equal(t, until, f.get(held[0].ID).Lease.Until)
		require.Equal(t, until, f.get(held[1].ID).Lease.Until)
		// A stale token extends nothing and is reported.
		stale := held[1].Ref()
		stale.Token = "stale"
		lost, err = s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: f.pool, Now: f.now, Lease: time.Hour + time.Minute, Leases: []taskstate.LeaseRef{stale}})
		require.NoError(t, err)
		require.Equal(t, []string{held[1].ID}, lost)
		require.Equal(t, until, f.get(held[1].ID).Lease.Until)
		lost, err = s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: f.pool, Now: f.now, Lease: time.Minute, Leases: []taskstate.LeaseRef{held[0].Ref()}})
		require.NoError(t, err)
		require.Empty(t, lost)
	}},

	{Group: "ListExpired", Name: "OldestLeaseFirstAndLimit", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 4)...)
		var held []*taskstate.Task
		for _, d := range []time.Duration{30 * time.Second, 10 * time.Second, 20 * time.Second, time.Hour} {
			held = append(held, f.claim(taskstate.ClaimParams{Owner: "w-" + d.String(), Lease: d})[0])
		}
		require.Equal(t, ids, taskIDs(held))
		list := func(before time.Time, limit int) []*taskstate.Task {
			t.Helper()
			got, err := s.ListExpired(ctx, taskstate.ListExpiredParams{Pool: f.pool, Now: before, Limit: limit})
			require.NoError(t, err)
			return got
		}
		expired := list(f.now.Add(time.Minute), 10)
		require.Equal(t, pick(ids, 1, 2, 0), taskIDs(expired), "oldest lease first; a live lease is not listed")
		for _, task := range expired {
			want := held[0]
			for _, h := range held {
				if h.ID == task.ID {
					want = h
				}
			}
			require.Equal(t, want.Lease, task.Lease)
			require.Equal(t, taskstate.StatusRunning, task.Status)
			require.Equal(t, 1, task.Attempts)
			require.Equal(t, taskstate.StatusWaiting, task.ClaimedFrom)
			require.Nil(t, task.Def, "no payloads")
		}
		require.Equal(t, pick(ids, 1, 2), taskIDs(list(f.now.Add(time.Minute), 2)))
		require.Equal(t, pick(ids, 1), taskIDs(list(f.now.Add(15*time.Second), 10)))
		require.Empty(t, list(f.now.Add(10*time.Second), 10), "a lease that ends at now has not ended before it")
		// A finished task is not listed, whatever its old lease said.
		require.Equal(t, []bool{true}, f.finish(commit(held[1], "r")))
		require.Equal(t, pick(ids, 2, 0), taskIDs(list(f.now.Add(time.Minute), 10)))
	}},
	{Group: "Finish", Name: "ReapLosesToAHeartbeat", Run: func(ctx context.Context, t T, s taskstate.Store) {
		// The reaper reads an expired lease, a heartbeat extends it, then
		// the reaper's write (fenced on the token and on the expiry it
		// read) must not move the task: the heartbeat wins.
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 2)...)
		held := f.claim(taskstate.ClaimParams{Limit: 2, Lease: 10 * time.Second})
		require.Equal(t, ids, taskIDs(held))
		f.advance(time.Minute)
		cutoff := f.now
		expired, err := s.ListExpired(ctx, taskstate.ListExpiredParams{Pool: f.pool, Now: cutoff, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, ids, taskIDs(expired))
		lost, err := s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: f.pool, Now: f.now, Lease: time.Minute, Leases: []taskstate.LeaseRef{held[0].Ref()}})
		require.NoError(t, err)
		require.Empty(t, lost)
		reap := func(task *taskstate.Task) taskstate.Transition {
			return taskstate.Transition{ID: task.ID, Seq: task.Seq, Token: task.Lease.Token, To: taskstate.StatusWaiting,
				SetError: true, LastError: "lease expired", Expired: true}
		}
		require.Equal(t, []bool{false, true}, f.finish(reap(expired[0]), reap(expired[1])),
			"the heartbeat renewed task 0 after the read: only task 1 is reaped")
		require.Equal(t, taskstate.StatusRunning, f.get(ids[0]).Status)
		require.Equal(t, held[0].Lease.Token, f.get(ids[0]).Lease.Token)
		require.Equal(t, taskstate.StatusWaiting, f.get(ids[1]).Status)
	}},
}
