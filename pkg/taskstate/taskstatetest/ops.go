package taskstatetest

import (
	"context"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var opsCases = []Case{
	// Cancel is an Update to failed with a last_error: the running task's
	// lease goes with it, so its heartbeat reports it lost and its late
	// commit is refused.
	{Group: "Ops", Name: "CancelRevokesTheLease", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 3)...)
		held := f.claimOne()
		f.advance(time.Second)
		msg := taskstate.CancelledPrefix + "wrong data"
		n := f.update(taskstate.UpdateParams{Query: taskstate.ByIDs(ids[0], ids[1]), Status: taskstate.StatusFailed, LastError: &msg})
		require.Equal(t, int64(2), n)
		for _, id := range ids[:2] {
			got := f.get(id)
			require.Equal(t, taskstate.StatusFailed, got.Status)
			require.Equal(t, msg, got.LastError)
			require.True(t, got.IsCancelled())
			require.Equal(t, taskstate.Lease{}, got.Lease)
			require.True(t, got.FinishedAt.Equal(f.now), "finished_at is the cancel's time, got %v", got.FinishedAt)
		}
		lost, err := s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: f.pool, Now: f.now, Lease: time.Minute, Leases: []taskstate.LeaseRef{held.Ref()}})
		require.NoError(t, err)
		require.Equal(t, []string{held.ID}, lost)
		require.Equal(t, []bool{false}, f.finish(commit(held, "late")))
		require.Equal(t, taskstate.StatusFailed, f.get(held.ID).Status)
		require.Equal(t, counts(1, 0, 0, 0, 2), f.stat(taskstate.Query{}))
	}},

	{Group: "Ops", Name: "RetryKeepsCancelled", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 3)...)
		for i, why := range []string{taskstate.CancelledPrefix + "stop", "poison", "failed: " + taskstate.CancelledPrefix + "x"} {
			task := f.claimOne()
			require.Equal(t, ids[i], task.ID)
			require.Equal(t, []bool{true}, f.finish(taskstate.Transition{ID: task.ID, Token: task.Lease.Token, To: taskstate.StatusFailed, SetError: true, LastError: why}))
		}
		retry := taskstate.UpdateParams{Query: taskstate.ByStatus(taskstate.StatusFailed), Status: taskstate.StatusWaiting, ResetAttempts: true, KeepCancelled: true}
		require.Equal(t, int64(2), f.update(retry))
		require.Equal(t, taskstate.StatusFailed, f.get(ids[0]).Status, "a cancelled task stays failed")
		require.Equal(t, taskstate.StatusWaiting, f.get(ids[1]).Status)
		require.Equal(t, taskstate.StatusWaiting, f.get(ids[2]).Status)
		require.Equal(t, counts(2, 0, 0, 0, 1), f.stat(taskstate.Query{}))
		retry.KeepCancelled = false
		require.Equal(t, int64(1), f.update(retry))
		require.Equal(t, counts(3, 0, 0, 0, 0), f.stat(taskstate.Query{}))
	}},

	// A paused pool claims nothing; the tasks it runs keep their leases
	// and commit; other pools claim as usual; a resume lets claims in.
	{Group: "Ops", Name: "PauseStopsClaims", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 3)...)
		other := newFixture(ctx, t, s)
		other.pool = "pool_b"
		other.create(tasks(0, 1)...)
		st, err := s.PoolState(ctx, f.pool)
		require.NoError(t, err)
		require.Equal(t, taskstate.PoolState{}, st, "a pool never paused")

		running := f.claimOne()
		require.NoError(t, s.SetPaused(ctx, taskstate.SetPausedParams{Pool: f.pool, Paused: true, Reason: "deploy", Now: f.now}))
		require.Empty(t, f.claim(taskstate.ClaimParams{Limit: 3}), "a paused pool claims nothing")
		require.Empty(t, f.claim(taskstate.ClaimParams{Limit: 3, Woken: true}), "nor on a wake-up")
		require.Empty(t, f.claim(taskstate.ClaimParams{Limit: 3, Kinds: []string{"noop"}}))
		require.Len(t, other.claim(taskstate.ClaimParams{Limit: 3}), 1, "another pool is not paused")

		st, err = s.PoolState(ctx, f.pool)
		require.NoError(t, err)
		require.True(t, st.Paused)
		require.Equal(t, "deploy", st.Reason)
		require.True(t, st.PausedAt.Equal(f.now), "paused_at %v", st.PausedAt)
		f.advance(time.Minute)
		require.NoError(t, s.SetPaused(ctx, taskstate.SetPausedParams{Pool: f.pool, Paused: true, Reason: "still", Now: f.now}))
		st, err = s.PoolState(ctx, f.pool)
		require.NoError(t, err)
		require.True(t, st.PausedAt.Equal(start), "a second pause keeps the first one's time, got %v", st.PausedAt)

		lost, err := s.Heartbeat(ctx, taskstate.HeartbeatParams{Pool: f.pool, Now: f.now, Lease: time.Minute, Leases: []taskstate.LeaseRef{running.Ref()}})
		require.NoError(t, err)
		require.Empty(t, lost, "a running task keeps its lease while paused")
		require.Equal(t, []bool{true}, f.finish(commit(running, "ok")))

		require.NoError(t, s.SetPaused(ctx, taskstate.SetPausedParams{Pool: f.pool, Paused: false, Now: f.now}))
		st, err = s.PoolState(ctx, f.pool)
		require.NoError(t, err)
		require.False(t, st.Paused)
		require.Equal(t, pick(ids, 1, 2), taskIDs(f.claim(taskstate.ClaimParams{Limit: 3})))
	}},

	{Group: "Ops", Name: "WorkersLiveOnly", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		w := func(id string, kinds ...string) taskstate.WorkerInfo {
			return taskstate.WorkerInfo{ID: id, Host: "h", PID: 42, Kinds: kinds, Concurrency: 2, From: taskstate.StatusWaiting,
				Version: "v1", StartedAt: f.now, SeenAt: f.now, ExpiresAt: f.now.Add(30 * time.Second)}
		}
		list := func(pool string) []taskstate.WorkerInfo {
			t.Helper()
			ws, err := s.ListWorkers(ctx, taskstate.ListWorkersParams{Pool: pool, Now: f.now})
			require.NoError(t, err)
			return ws
		}
		require.Empty(t, list(f.pool))
		b, a := w("b:2", "sleep"), w("a:1", "linear", "noop")
		for _, x := range []taskstate.WorkerInfo{b, a} {
			require.NoError(t, s.PutWorker(ctx, taskstate.PutWorkerParams{Pool: f.pool, Worker: x}))
		}
		require.NoError(t, s.PutWorker(ctx, taskstate.PutWorkerParams{Pool: "pool_b", Worker: w("c:3", "noop")}))
		got := list(f.pool)
		require.Len(t, got, 2)
		require.Equal(t, "a:1", got[0].ID)
		require.Equal(t, []string{"linear", "noop"}, got[0].Kinds)
		require.Equal(t, 42, got[0].PID)
		require.Equal(t, 2, got[0].Concurrency)
		require.Equal(t, "v1", got[0].Version)
		require.True(t, got[0].StartedAt.Equal(start))
		require.Equal(t, "b:2", got[1].ID)

		f.advance(20 * time.Second)
		a.SeenAt, a.ExpiresAt = f.now, f.now.Add(30*time.Second)
		require.NoError(t, s.PutWorker(ctx, taskstate.PutWorkerParams{Pool: f.pool, Worker: a}))
		f.advance(15 * time.Second) // b's entry has expired, a's was renewed
		got = list(f.pool)
		require.Len(t, got, 1)
		require.Equal(t, "a:1", got[0].ID)
		require.True(t, got[0].SeenAt.Equal(start.Add(20*time.Second)), "seen_at %v", got[0].SeenAt)

		require.NoError(t, s.RemoveWorker(ctx, taskstate.RemoveWorkerParams{Pool: f.pool, ID: "a:1"}))
		require.NoError(t, s.RemoveWorker(ctx, taskstate.RemoveWorkerParams{Pool: f.pool, ID: "a:1"}), "removing twice is not an error")
		require.Empty(t, list(f.pool))
		require.Empty(t, list("pool_b"), "pool_b's worker expired too")
	}},
}
