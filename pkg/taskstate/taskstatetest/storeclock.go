package taskstatetest

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// clockSlack is how far a backend's own clock may be from this process's
// in these cases: the store runs on this host, and MongoDB's is read over
// a round trip and kept to the millisecond.
const clockSlack = time.Second

// storeClockCases check that, given no Now, a backend decides every lease
// end and expiry by its own clock from the durations it is given.
var storeClockCases = []Case{
	{Group: "StoreClock", Name: "ClaimAndHeartbeatEndLeasesAtStoreNowPlusLease", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		f.create(tasks(0, 1)...)
		before := time.Now()
		got, err := s.Claim(ctx, taskstate.ClaimParams{Pool: f.pool, From: taskstate.StatusWaiting, Owner: "w", Token: "tok", Lease: time.Minute, Limit: 1})
		after := time.Now()
		require.NoError(t, err)
		require.Len(t, got, 1)
		requireWithin(t, got[0].Lease.Until, before.Add(time.Minute), after.Add(time.Minute), "lease end of the claim")
		requireWithin(t, got[0].StartedAt, before, after, "started_at of the claim")
		require.Equal(t, got[0].Lease, f.get(got[0].ID).Lease, "the claim returns the lease it stored")

		before = time.Now()
		lost, err := s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: f.pool, Lease: time.Hour, Leases: []taskstate.LeaseRef{got[0].Ref()}})
		after = time.Now()
		require.NoError(t, err)
		require.Empty(t, lost)
		requireWithin(t, f.get(got[0].ID).Lease.Until, before.Add(time.Hour), after.Add(time.Hour), "lease end after a heartbeat")
	}},
	{Group: "StoreClock", Name: "ExpiryAndReapFenceByStoreNowMinusGrace", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 1)...)
		got, err := s.Claim(ctx, taskstate.ClaimParams{Pool: f.pool, From: taskstate.StatusWaiting, Owner: "w", Token: "tok", Lease: time.Millisecond, Limit: 1})
		require.NoError(t, err)
		require.Len(t, got, 1)
		list := func(grace time.Duration) []string {
			t.Helper()
			exp, err := s.ListExpired(ctx, taskstate.ListExpiredParams{Pool: f.pool, Grace: grace, Limit: 10})
			require.NoError(t, err)
			return taskIDs(exp)
		}
		// The lease ends a millisecond after the claim, by the store's
		// clock: poll until the store says so.
		deadline := time.Now().Add(10 * time.Second)
		for len(list(0)) == 0 {
			require.True(t, time.Now().Before(deadline), "a 1ms lease never expired by the store's clock")
			select {
			case <-ctx.Done():
				require.NoError(t, ctx.Err())
			case <-time.After(5 * time.Millisecond):
			}
		}
		require.Equal(t, ids, list(0))
		require.Empty(t, list(time.Hour), "within the grace, an ended lease is not listed")
		reap := func(grace time.Duration) taskstate.Transition {
			return taskstate.Transition{ID: got[0].ID, Token: got[0].Lease.Token, Seq: got[0].Seq, To: taskstate.StatusWaiting,
				SetError: true, LastError: "lease expired", Expired: true, Grace: grace}
		}
		applied, err := s.Finish(ctx, taskstate.FinishParams{Pool: f.pool, Items: []taskstate.Transition{reap(time.Hour)}})
		require.NoError(t, err)
		require.Equal(t, []bool{false}, applied, "the fence re-checks the expiry with the grace, by the store's clock")
		applied, err = s.Finish(ctx, taskstate.FinishParams{Pool: f.pool, Items: []taskstate.Transition{reap(0)}})
		require.NoError(t, err)
		require.Equal(t, []bool{true}, applied)
		require.Equal(t, taskstate.StatusWaiting, f.get(ids[0]).Status)
	}},
	{Group: "StoreClock", Name: "DelayHoldsBackByStoreClock", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 1)...)
		claim := func() []*taskstate.Task {
			t.Helper()
			got, err := s.Claim(ctx, taskstate.ClaimParams{Pool: f.pool, From: taskstate.StatusWaiting, Owner: "w", Token: taskstate.NewToken(), Lease: time.Minute, Limit: 1})
			require.NoError(t, err)
			return got
		}
		got := claim()
		require.Len(t, got, 1)
		before := time.Now()
		applied, err := s.Finish(ctx, taskstate.FinishParams{Pool: f.pool, Items: []taskstate.Transition{{ID: ids[0], Token: got[0].Lease.Token,
			To: taskstate.StatusWaiting, SetError: true, LastError: "retry", Delay: time.Hour}}})
		after := time.Now()
		require.NoError(t, err)
		require.Equal(t, []bool{true}, applied)
		requireWithin(t, f.get(ids[0]).RunAfter, before.Add(time.Hour), after.Add(time.Hour), "run_after of a delayed retry")
		require.Empty(t, claim(), "a task held back by an hour is not claimable now")
	}},
	{Group: "StoreClock", Name: "DurationsAreBounded", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		f.create(tasks(0, 1)...)
		for _, lease := range []time.Duration{0, -time.Second, taskstate.MaxLease + 1} {
			_, err := s.Claim(ctx, taskstate.ClaimParams{Pool: f.pool, From: taskstate.StatusWaiting, Owner: "w", Token: "t", Lease: lease, Limit: 1})
			require.ErrorIs(t, err, taskstate.ErrInvalidDuration, "claim lease %s", lease)
			_, err = s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: f.pool, Lease: lease, Leases: []taskstate.LeaseRef{{ID: taskstate.NewID(), Token: "t"}}})
			require.ErrorIs(t, err, taskstate.ErrInvalidDuration, "heartbeat lease %s", lease)
		}
		_, err := s.ListExpired(ctx, taskstate.ListExpiredParams{Pool: f.pool, Grace: -time.Second})
		require.ErrorIs(t, err, taskstate.ErrInvalidDuration)
		_, err = s.Finish(ctx, taskstate.FinishParams{Pool: f.pool, Items: []taskstate.Transition{{ID: taskstate.NewID(), Token: "t", To: taskstate.StatusWaiting, Delay: taskstate.MaxLease + 1}}})
		require.ErrorIs(t, err, taskstate.ErrInvalidTransition)
		require.Equal(t, counts(1, 0, 0, 0, 0), f.stat(taskstate.Query{}), "nothing was claimed")
	}},
}

// requireWithin fails unless got is within [lo, hi] widened by clockSlack.
func requireWithin(t T, got, lo, hi time.Time, what string) {
	t.Helper()
	require.False(t, got.Before(lo.Add(-clockSlack)) || got.After(hi.Add(clockSlack)),
		"%s: %s is not within [%s, %s] (± %s)", what, got.Format(time.RFC3339Nano), lo.Format(time.RFC3339Nano), hi.Format(time.RFC3339Nano), clockSlack)
}
