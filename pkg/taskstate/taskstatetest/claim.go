package taskstatetest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

var claimCases = []Case{
	{Group: "Claim", Name: "PriorityThenCreationOrder", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		in := tasks(0, 5)
		for i, p := range []int{0, 5, 0, 5, -1} {
			in[i].Priority = p
		}
		ids := f.create(in...)
		var got []string
		for range 5 {
			got = append(got, f.claimOne().ID)
		}
		require.Equal(t, pick(ids, 1, 3, 0, 2, 4), got)
		require.Empty(t, f.claim(taskstate.ClaimParams{Limit: 10}))
	}},

	{Group: "Claim", Name: "BatchIsOrderedAndLimited", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		in := tasks(0, 5)
		in[4].Priority = 9
		ids := f.create(in...)
		got := f.claim(taskstate.ClaimParams{Limit: 3, Token: "tok-1"})
		require.Equal(t, pick(ids, 4, 0, 1), taskIDs(got))
		for _, task := range got {
			require.Equal(t, "tok-1", task.Lease.Token)
		}
		require.Equal(t, counts(2, 3, 0, 0, 0), f.stat(taskstate.Query{}))
		require.Equal(t, pick(ids, 2, 3), taskIDs(f.claim(taskstate.ClaimParams{Limit: 10})))
		require.Empty(t, f.claim(taskstate.ClaimParams{Limit: 10}))
		require.Equal(t, counts(0, 5, 0, 0, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Claim", Name: "WokenIsTheSameClaim", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		require.Empty(t, f.claim(taskstate.ClaimParams{Limit: 10, Woken: true}), "a woken claim of an empty pool")
		in := tasks(0, 3)
		in[2].Priority = 1
		ids := f.create(in...)
		require.Equal(t, pick(ids, 2, 0), taskIDs(f.claim(taskstate.ClaimParams{Limit: 2, Woken: true})))
		require.Equal(t, pick(ids, 1), taskIDs(f.claim(taskstate.ClaimParams{Limit: 2})))
		require.Empty(t, f.claim(taskstate.ClaimParams{Limit: 10, Woken: true}))
		require.Equal(t, counts(0, 3, 0, 0, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Claim", Name: "SetsLeaseAndAttempts", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		nt := task("noop", 0)
		id := f.create(nt)[0]
		got := f.claim(taskstate.ClaimParams{Owner: "host:1", Token: "tok", Lease: 10 * time.Second})
		require.Len(t, got, 1)
		task := got[0]
		require.Equal(t, id, task.ID)
		require.Equal(t, taskstate.StatusRunning, task.Status)
		require.Equal(t, taskstate.Lease{Owner: "host:1", Token: "tok", Until: f.now.Add(10 * time.Second)}, task.Lease)
		require.Equal(t, 1, task.Attempts)
		require.Equal(t, taskstate.StatusWaiting, task.ClaimedFrom)
		require.Equal(t, f.now, task.StartedAt)
		require.Equal(t, nt.Def, task.Def, "a claim returns the def")
		stored := f.get(id)
		require.Equal(t, task.Lease, stored.Lease)
		require.Equal(t, 1, stored.Attempts)
		require.Equal(t, taskstate.StatusWaiting, stored.ClaimedFrom)
		require.Equal(t, f.now, stored.StartedAt)
	}},

	{Group: "Claim", Name: "Kinds", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(task("linear", 0), task("sleep", 1), task("linear", 2), task("exec", 3))
		got := f.claim(taskstate.ClaimParams{Kinds: []string{"sleep", "exec"}, Limit: 10})
		require.Equal(t, pick(ids, 1, 3), taskIDs(got))
		require.Empty(t, f.claim(taskstate.ClaimParams{Kinds: []string{"sleep", "gpu"}, Limit: 10}))
		require.Equal(t, pick(ids, 0, 2), taskIDs(f.claim(taskstate.ClaimParams{Limit: 10})))
	}},

	{Group: "Claim", Name: "Query", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		ids := f.create(tasks(0, 4)...)
		q := taskstate.Query{}.Where("filter.i", taskstate.OpGte, 2)
		require.Equal(t, pick(ids, 2, 3), taskIDs(f.claim(taskstate.ClaimParams{Query: q, Limit: 10})))
		q = taskstate.Query{}.Where("filter.name", taskstate.OpIn, []any{"t1", "t3"})
		require.Equal(t, pick(ids, 1), taskIDs(f.claim(taskstate.ClaimParams{Query: q, Limit: 10})), "t3 is running already")
		require.Equal(t, counts(1, 3, 0, 0, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Claim", Name: "RunAfter", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		id := f.create(task("noop", 0))[0]
		task := f.claimOne()
		require.Equal(t, []bool{true}, f.finish(taskstate.Transition{ID: id, Token: task.Lease.Token, To: taskstate.StatusWaiting,
			SetError: true, LastError: "boom", Delay: time.Minute}))
		require.Equal(t, f.now.Add(time.Minute), f.get(id).RunAfter)
		require.Empty(t, f.claim(taskstate.ClaimParams{}), "not claimable before run_after")
		f.advance(59 * time.Second)
		require.Empty(t, f.claim(taskstate.ClaimParams{}), "not claimable before run_after")
		f.advance(time.Second)
		again := f.claimOne()
		require.Equal(t, id, again.ID, "claimable once run_after is not after now")
		require.Equal(t, 2, again.Attempts)
	}},

	{Group: "Claim", Name: "FromPartDoneReturnsRes", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		id := f.create(task("noop", 0))[0]
		task := f.claimOne()
		require.Equal(t, []bool{true}, f.finish(taskstate.Transition{ID: id, Token: task.Lease.Token, To: taskstate.StatusPartDone, SetRes: true, Res: []byte("phase one")}))
		require.Empty(t, f.claim(taskstate.ClaimParams{}), "part_done is not claimable from waiting")
		got := f.claim(taskstate.ClaimParams{From: taskstate.StatusPartDone})
		require.Len(t, got, 1)
		require.Equal(t, id, got[0].ID)
		require.Equal(t, taskstate.StatusPartDone, got[0].ClaimedFrom)
		require.Equal(t, []byte("phase one"), got[0].Res)
		require.Equal(t, 1, got[0].Attempts, "attempts are counted per phase")
	}},

	{Group: "Claim", Name: "InvalidFrom", Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		f.create(task("noop", 0))
		for _, from := range []taskstate.Status{taskstate.StatusDone, taskstate.StatusRunning, "finished"} {
			_, err := s.Claim(ctx, taskstate.ClaimParams{Pool: f.pool, From: from, Owner: "w", Token: "tok", Now: f.now, Lease: time.Minute, Limit: 1})
			require.ErrorIs(t, err, taskstate.ErrInvalidStatus, "from %q", from)
		}
		require.Equal(t, counts(1, 0, 0, 0, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Claim", Name: "ConcurrentClaimsAreExclusive", NeedsAtomicClaims: true, Run: func(ctx context.Context, t T, s taskstate.Store) {
		f := newFixture(ctx, t, s)
		const n, claimers = 100, 6
		for first := 0; first < n; first += 50 {
			_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: f.pool, Now: f.now, Tasks: tasks(first, 50)})
			require.NoError(t, err)
		}
		// Exclusivity and completeness, not fairness: a claimer may get
		// every task or none.
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
			errs = make(chan error, claimers)
		)
		for c := range claimers {
			wg.Go(func() {
				for {
					got, err := s.Claim(ctx, taskstate.ClaimParams{Pool: f.pool, From: taskstate.StatusWaiting, Owner: fmt.Sprint("c", c),
						Token: taskstate.NewToken(), Now: f.now, Lease: time.Minute, Limit: 4})
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, task := range got {
						seen[task.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, seen, n)
		for id, k := range seen {
			require.Equal(t, 1, k, "task %s claimed %d times", id, k)
		}
		require.Equal(t, counts(0, n, 0, 0, 0), f.stat(taskstate.Query{}))
	}},

	{Group: "Claim", Name: "ConcurrentCommitsApplyOnce", NeedsAtomicClaims: true, Run: func(ctx context.Context, t T, s taskstate.Store) {
		// Several committers of the same leases (a worker's commit and
		// its retry, or a zombie): each task's commit applies once, and
		// the stored result is the one whose commit applied.
		f := newFixture(ctx, t, s)
		const n, committers = 24, 3
		_, err := s.CreateTasks(ctx, taskstate.CreateTasksParams{Pool: f.pool, Now: f.now, Tasks: tasks(0, n)})
		require.NoError(t, err)
		held := f.claim(taskstate.ClaimParams{Limit: n})
		require.Len(t, held, n)
		applied := make([][]bool, committers)
		errs := make([]error, committers)
		var wg sync.WaitGroup
		for c := range committers {
			wg.Go(func() {
				items := make([]taskstate.Transition, n)
				for i, task := range held {
					items[i] = commit(task, fmt.Sprint("by ", c))
				}
				applied[c], errs[c] = s.Finish(ctx, taskstate.FinishParams{Pool: f.pool, Now: f.now, Items: items})
			})
		}
		wg.Wait()
		for c := range committers {
			require.NoError(t, errs[c])
			require.Len(t, applied[c], n)
		}
		for i, task := range held {
			winners := []int{}
			for c := range committers {
				if applied[c][i] {
					winners = append(winners, c)
				}
			}
			require.Len(t, winners, 1, "task %s: commits applied by committers %v", task.ID, winners)
			require.Equal(t, []byte(fmt.Sprint("by ", winners[0])), f.get(task.ID).Res, "task %s", task.ID)
		}
		require.Equal(t, counts(0, 0, 0, n, 0), f.stat(taskstate.Query{}))
	}},
}
