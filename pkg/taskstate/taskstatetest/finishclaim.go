package taskstatetest

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// finishClaim runs FinishAndClaim on the fixture's pool with the claim
// defaults of fixture.claim (limit 2 unless set).
func (f *fixture) finishClaim(fc taskstate.FinishClaimer, claim taskstate.ClaimParams, items ...taskstate.Transition) (taskstate.FinishAndClaimResult, error) {
	claim.Pool = f.pool
	claim.From = taskstate.StatusWaiting
	claim.Owner = "w2"
	claim.Token = taskstate.NewToken()
	claim.Now = f.now
	claim.Lease = time.Minute
	if claim.Limit == 0 {
		claim.Limit = 2
	}
	return fc.FinishAndClaim(f.ctx, taskstate.FinishAndClaimParams{
		Finish: taskstate.FinishParams{Pool: f.pool, Now: f.now, Items: items},
		Claim:  claim,
	})
}

// finishClaimCase is a case of taskstate.FinishClaimer; Exercise skips it
// for a store that is not one (and Check passes it).
func finishClaimCase(name string, run func(f *fixture, fc taskstate.FinishClaimer)) Case {
	return Case{Group: "FinishAndClaim", Name: name, NeedsFinishClaimer: true, Run: func(ctx context.Context, t T, s taskstate.Store) {
		if fc, ok := s.(taskstate.FinishClaimer); ok {
			run(newFixture(ctx, t, s), fc)
		}
	}}
}

var finishClaimCases = []Case{
	finishClaimCase("FinishesThenClaims", func(f *fixture, fc taskstate.FinishClaimer) {
		t := f.t
		ids := f.create(tasks(0, 5)...)
		held := f.claim(taskstate.ClaimParams{Limit: 2})
		stale := commit(held[1], "stale")
		stale.Token = "not-the-token"
		f.advance(time.Second)
		res, err := f.finishClaim(fc, taskstate.ClaimParams{Limit: 2}, commit(held[0], "ok"), stale)
		require.NoError(t, err)
		require.Equal(t, []bool{true, false}, res.Applied, "each item is fenced as in Finish")
		require.Equal(t, pick(ids, 2, 3), taskIDs(res.Claimed), "the claim takes the next tasks in order")
		for _, c := range res.Claimed {
			require.Equal(t, taskstate.StatusRunning, c.Status)
			require.Equal(t, "w2", c.Lease.Owner)
			require.Equal(t, f.now.Add(time.Minute), c.Lease.Until)
			require.Equal(t, c.Lease, f.get(c.ID).Lease)
		}
		done := f.get(ids[0])
		require.Equal(t, taskstate.StatusDone, done.Status)
		require.Equal(t, []byte("ok"), done.Res)
		require.Equal(t, f.now, done.UpdatedAt)
		require.Equal(t, counts(1, 3, 0, 1, 0), f.stat(taskstate.Query{}))
		require.Equal(t, f.scan(), f.stat(taskstate.Query{}), "the counters agree with a scan")
	}),

	finishClaimCase("NothingToClaim", func(f *fixture, fc taskstate.FinishClaimer) {
		t := f.t
		ids := f.create(tasks(0, 2)...)
		held := f.claim(taskstate.ClaimParams{Limit: 2})
		res, err := f.finishClaim(fc, taskstate.ClaimParams{}, commit(held[0], "a"), commit(held[1], "b"))
		require.NoError(t, err)
		require.Equal(t, []bool{true, true}, res.Applied)
		require.Empty(t, res.Claimed)
		require.Equal(t, []byte("b"), f.get(ids[1]).Res)
		require.Equal(t, counts(0, 0, 0, 2, 0), f.stat(taskstate.Query{}))
	}),

	finishClaimCase("ErrorAppliesNothing", func(f *fixture, fc taskstate.FinishClaimer) {
		t := f.t
		ids := f.create(tasks(0, 3)...)
		held := f.claimOne()
		bad := taskstate.ClaimParams{}
		_, err := fc.FinishAndClaim(f.ctx, taskstate.FinishAndClaimParams{
			Finish: taskstate.FinishParams{Pool: f.pool, Now: f.now, Items: []taskstate.Transition{commit(held, "x")}},
			Claim:  bad, // no From, no lease: invalid
		})
		require.Error(t, err, "an invalid claim fails the call")
		bad = taskstate.ClaimParams{Pool: "pool_b", From: taskstate.StatusWaiting, Owner: "w2", Token: "t", Now: f.now, Lease: time.Minute, Limit: 1}
		_, err = fc.FinishAndClaim(f.ctx, taskstate.FinishAndClaimParams{
			Finish: taskstate.FinishParams{Pool: f.pool, Now: f.now, Items: []taskstate.Transition{commit(held, "x")}},
			Claim:  bad,
		})
		require.Error(t, err, "a claim of another pool fails the call")
		kept := f.get(ids[0])
		require.Equal(t, taskstate.StatusRunning, kept.Status, "the finish did not apply")
		require.Nil(t, kept.Res)
		require.Equal(t, counts(2, 1, 0, 0, 0), f.stat(taskstate.Query{}), "nothing was claimed")
	}),
}
