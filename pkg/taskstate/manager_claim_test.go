package taskstate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestManagerClaimAndFinish runs the Manager over every backend: claims, commits, returns, releases, failures, heartbeats, the reaper and RunOne.
func TestManagerClaimAndFinish(t *testing.T) {
	t.Parallel()
	runManagerCases(t, []managerCase{
		{name: "Claim/PriorityThenCreationOrder", fn: func(t *testing.T, e *env) {
			ids := e.create(
				taskstate.TaskSpec{Kind: "noop", Def: 0},
				taskstate.TaskSpec{Kind: "noop", Def: 1, Priority: 5},
				taskstate.TaskSpec{Kind: "noop", Def: 2},
				taskstate.TaskSpec{Kind: "noop", Def: 3, Priority: 5},
				taskstate.TaskSpec{Kind: "noop", Def: 4, Priority: -1},
			)
			var got []string
			for range 5 {
				got = append(got, e.claimOne().ID)
			}
			require.Equal(t, []string{ids[1], ids[3], ids[0], ids[2], ids[4]}, got)
			require.Empty(t, e.claim(taskstate.ClaimOptions{}))
		}},

		{name: "Claim/BatchIsOrderedAndLimited", fn: func(t *testing.T, e *env) {
			ids := e.create(specs("noop", 5)...)
			_, err := e.m.Prioritize(e.ctx, taskstate.ByIDs(ids[4]), 9)
			require.NoError(t, err)
			tasks := e.claim(taskstate.ClaimOptions{Limit: 3})
			require.Len(t, tasks, 3)
			require.Equal(t, []string{ids[4], ids[0], ids[1]}, []string{tasks[0].ID, tasks[1].ID, tasks[2].ID})
			require.Equal(t, counts(2, 3, 0, 0, 0), e.stat())
		}},

		{name: "Claim/SetsLease", fn: func(t *testing.T, e *env) {
			id := e.create(specs("noop", 1)...)[0]
			task := e.claim(taskstate.ClaimOptions{Owner: "host:1", Lease: 10 * time.Second})[0]
			require.Equal(t, id, task.ID)
			require.Equal(t, taskstate.StatusRunning, task.Status)
			require.Equal(t, "host:1", task.Lease.Owner)
			require.NotEmpty(t, task.Lease.Token)
			require.Equal(t, e.clock.Now().Add(10*time.Second), task.Lease.Until)
			require.Equal(t, 1, task.Attempts)
			require.Equal(t, taskstate.StatusWaiting, task.ClaimedFrom)
			require.Equal(t, e.clock.Now(), task.StartedAt)
			require.NotEmpty(t, task.Def, "a claim returns the def")
			stored := e.get(id)
			require.Equal(t, task.Lease, stored.Lease)
			require.Equal(t, 1, stored.Attempts)
		}},

		{name: "Claim/KindsAndQuery", fn: func(t *testing.T, e *env) {
			ids := e.create(
				taskstate.TaskSpec{Kind: "linear", Def: def("Linear", 1)},
				taskstate.TaskSpec{Kind: "sleep", Def: def("Linear", 2)},
				taskstate.TaskSpec{Kind: "linear", Def: def("GBDT", 3)},
			)
			got := e.claim(taskstate.ClaimOptions{Kinds: []string{"sleep", "exec"}, Limit: 10})
			require.Len(t, got, 1)
			require.Equal(t, ids[1], got[0].ID)
			q := taskstate.Query{}.Where("filter.model.class", taskstate.OpEq, "GBDT")
			got = e.claim(taskstate.ClaimOptions{Query: q, Limit: 10})
			require.Len(t, got, 1)
			require.Equal(t, ids[2], got[0].ID)
		}},

		{name: "Claim/BadOptions", fn: func(t *testing.T, e *env) {
			_, err := e.m.Claim(e.ctx, taskstate.ClaimOptions{From: taskstate.StatusDone})
			require.ErrorIs(t, err, taskstate.ErrInvalidStatus)
			_, err = e.m.Claim(e.ctx, taskstate.ClaimOptions{Query: taskstate.Query{}.Where("filter.x", "$regex", "a")})
			requireInvalidQuery(t, err, "filter.x")
		}},

		{name: "Commit/DoneWithResult", fn: func(t *testing.T, e *env) {
			id := e.create(specs("noop", 1)...)[0]
			task := e.claimOne()
			e.clock.Advance(time.Second)
			require.NoError(t, e.m.Commit(e.ctx, task, map[string]any{"ic": 0.05}, ""))
			stored := e.get(id)
			require.Equal(t, taskstate.StatusDone, stored.Status)
			require.Empty(t, stored.Lease.Token)
			require.Equal(t, e.clock.Now(), stored.FinishedAt)
			res, err := e.m.DecodeRes(stored)
			require.NoError(t, err)
			require.Equal(t, map[string]any{"ic": 0.05}, res)
			require.Equal(t, counts(0, 0, 0, 1, 0), e.stat())
			require.Equal(t, 1, e.notes.count(taskstate.EventCommitted))
			// The same claim cannot commit twice.
			requireLeaseLost(t, e.m.Commit(e.ctx, task, "again", ""))
			res, err = e.m.DecodeRes(e.get(id))
			require.NoError(t, err)
			require.Equal(t, map[string]any{"ic": 0.05}, res)
		}},

		{name: "Commit/TwoPhase", fn: func(t *testing.T, e *env) {
			id := e.create(specs("noop", 1)...)[0]
			task := e.claimOne()
			require.NoError(t, e.m.Commit(e.ctx, task, "phase-one", taskstate.StatusPartDone))
			require.Equal(t, counts(0, 0, 1, 0, 0), e.stat())
			require.Empty(t, e.claim(taskstate.ClaimOptions{}), "part_done is not claimable from waiting")
			tasks := e.claim(taskstate.ClaimOptions{From: taskstate.StatusPartDone})
			require.Len(t, tasks, 1)
			require.Equal(t, id, tasks[0].ID)
			require.Equal(t, taskstate.StatusPartDone, tasks[0].ClaimedFrom)
			param, err := e.m.Param(tasks[0])
			require.NoError(t, err)
			require.Equal(t, "phase-one", param)
			// An error in phase two returns it to part_done.
			to, err := e.m.Return(e.ctx, tasks[0], errors.New("gpu busy"))
			require.NoError(t, err)
			require.Equal(t, taskstate.StatusPartDone, to)
			e.clock.Advance(time.Hour)
			tasks = e.claim(taskstate.ClaimOptions{From: taskstate.StatusPartDone})
			require.Len(t, tasks, 1)
			require.NoError(t, e.m.Commit(e.ctx, tasks[0], "phase-two", taskstate.StatusDone))
			res, err := e.m.DecodeRes(e.get(id))
			require.NoError(t, err)
			require.Equal(t, "phase-two", res)
		}},

		{name: "Commit/BadStatus", fn: func(t *testing.T, e *env) {
			e.create(specs("noop", 1)...)
			task := e.claimOne()
			require.ErrorIs(t, e.m.Commit(e.ctx, task, 1, taskstate.StatusWaiting), taskstate.ErrInvalidStatus)
			require.Equal(t, counts(0, 1, 0, 0, 0), e.stat())
		}},

		{name: "Commit/ResultTooLargeFailsTask", fn: func(t *testing.T, e *env) {
			m, err := taskstate.NewManager(taskstate.Config{Store: e.store, Pool: "pool_a", Now: e.clock.Now, Codec: taskstate.Codec{MaxSize: 1024}})
			require.NoError(t, err)
			ids, err := m.Create(e.ctx, specs("noop", 1), taskstate.CreateOptions{})
			require.NoError(t, err)
			tasks, err := m.Claim(e.ctx, taskstate.ClaimOptions{})
			require.NoError(t, err)
			err = m.Commit(e.ctx, tasks[0], make([]byte, 4096), "")
			require.ErrorIs(t, err, taskstate.ErrPayloadTooLarge)
			stored, err := m.Get(e.ctx, ids.IDs[0])
			require.NoError(t, err)
			require.Equal(t, taskstate.StatusFailed, stored.Status)
			require.Contains(t, stored.LastError, "payload too large")
			require.Empty(t, stored.Res)
		}},

		{name: "Commit/ManyFencedPerItem", fn: func(t *testing.T, e *env) {
			e.create(specs("noop", 3)...)
			tasks := e.claim(taskstate.ClaimOptions{Limit: 3})
			stale := *tasks[1]
			stale.Lease.Token = "not-the-token"
			errs := e.m.CommitMany(e.ctx, []taskstate.CommitItem{{Task: tasks[0], Res: 0}, {Task: &stale, Res: 1}, {Task: tasks[2], Res: 2}})
			require.NoError(t, errs[0])
			requireLeaseLost(t, errs[1])
			require.NoError(t, errs[2])
			require.Equal(t, counts(0, 1, 0, 2, 0), e.stat())
		}},

		{name: "Return/BackoffAttemptsAndFailed", fn: func(t *testing.T, e *env) {
			id := e.create(taskstate.TaskSpec{Kind: "noop", Def: 1, MaxAttempts: 2})[0]
			task := e.claimOne()
			to, err := e.m.Return(e.ctx, task, errors.New("boom 1"))
			require.NoError(t, err)
			require.Equal(t, taskstate.StatusWaiting, to)
			stored := e.get(id)
			require.Equal(t, taskstate.StatusWaiting, stored.Status)
			require.Equal(t, "boom 1", stored.LastError)
			require.Equal(t, e.clock.Now().Add(time.Minute), stored.RunAfter)
			require.Empty(t, e.claim(taskstate.ClaimOptions{}), "not claimable during backoff")
			e.clock.Advance(time.Minute)
			task = e.claimOne()
			require.Equal(t, 2, task.Attempts)
			to, err = e.m.Return(e.ctx, task, errors.New("boom 2"))
			require.NoError(t, err)
			require.Equal(t, taskstate.StatusFailed, to)
			stored = e.get(id)
			require.Equal(t, taskstate.StatusFailed, stored.Status)
			require.Contains(t, stored.LastError, "attempt 2 of 2: boom 2")
			require.Equal(t, 1, e.notes.count(taskstate.EventFailed))
			requireLeaseLost(t, func() error { _, err := e.m.Return(e.ctx, task, nil); return err }())
		}},

		{name: "Return/UnlimitedAttempts", fn: func(t *testing.T, e *env) {
			e.create(taskstate.TaskSpec{Kind: "noop", Def: 1, MaxAttempts: taskstate.UnlimitedAttempts})
			for i := range 6 {
				task := e.claimOne()
				require.Equal(t, i+1, task.Attempts)
				to, err := e.m.Return(e.ctx, task, errors.New("again"))
				require.NoError(t, err)
				require.Equal(t, taskstate.StatusWaiting, to)
				e.clock.Advance(time.Hour)
			}
		}},

		{name: "Release/DoesNotCountAttempt", fn: func(t *testing.T, e *env) {
			id := e.create(specs("noop", 1)...)[0]
			task := e.claimOne()
			require.NoError(t, e.m.Release(e.ctx, task))
			stored := e.get(id)
			require.Equal(t, taskstate.StatusWaiting, stored.Status)
			require.Equal(t, 0, stored.Attempts)
			require.Len(t, e.claim(taskstate.ClaimOptions{}), 1, "released tasks are claimable at once")
		}},

		{name: "Fail/RecordsError", fn: func(t *testing.T, e *env) {
			id := e.create(specs("noop", 1)...)[0]
			task := e.claimOne()
			require.NoError(t, e.m.Fail(e.ctx, task, errors.New("cannot decode")))
			stored := e.get(id)
			require.Equal(t, taskstate.StatusFailed, stored.Status)
			require.Equal(t, "cannot decode", stored.LastError)
		}},

		{name: "Heartbeat/ExtendsAndReportsLost", fn: func(t *testing.T, e *env) {
			e.create(specs("noop", 3)...)
			tasks := e.claim(taskstate.ClaimOptions{Limit: 3, Lease: time.Minute})
			require.NoError(t, e.m.Commit(e.ctx, tasks[2], nil, ""))
			e.clock.Advance(30 * time.Second)
			refs := []taskstate.LeaseRef{tasks[0].Ref(), tasks[1].Ref(), tasks[2].Ref()}
			lost, err := e.m.Heartbeat(e.ctx, refs, time.Minute)
			require.NoError(t, err)
			require.Equal(t, []string{tasks[2].ID}, lost)
			require.Equal(t, e.clock.Now().Add(time.Minute), e.get(tasks[0].ID).Lease.Until)
			require.Equal(t, e.clock.Now().Add(time.Minute), e.get(tasks[1].ID).Lease.Until)
			stale := tasks[1].Ref()
			stale.Token = "stale"
			lost, err = e.m.Heartbeat(e.ctx, []taskstate.LeaseRef{stale}, time.Minute)
			require.NoError(t, err)
			require.Equal(t, []string{tasks[1].ID}, lost)
		}},

		{name: "Reap/ExpiredLeasesGoBack", fn: func(t *testing.T, e *env) {
			ids := e.create(
				taskstate.TaskSpec{Kind: "noop", Def: 1, MaxAttempts: 1},
				taskstate.TaskSpec{Kind: "noop", Def: 2},
				taskstate.TaskSpec{Kind: "noop", Def: 3},
			)
			short := e.claim(taskstate.ClaimOptions{Limit: 2, Lease: time.Second})
			long := e.claim(taskstate.ClaimOptions{Limit: 1, Lease: time.Hour})
			require.Len(t, short, 2)
			require.Len(t, long, 1)
			e.clock.Advance(2 * time.Second)
			rr, err := e.m.ReapExpired(e.ctx, 5*time.Second)
			require.NoError(t, err)
			require.Equal(t, taskstate.ReapResult{}, rr, "within the grace nothing is reaped")
			e.clock.Advance(5 * time.Second)
			rr, err = e.m.ReapExpired(e.ctx, 5*time.Second)
			require.NoError(t, err)
			require.Equal(t, taskstate.ReapResult{Requeued: 1, Failed: 1}, rr)
			require.Equal(t, taskstate.StatusFailed, e.get(ids[0]).Status)
			require.Contains(t, e.get(ids[0]).LastError, "lease of worker-1 expired")
			require.Equal(t, taskstate.StatusWaiting, e.get(ids[1]).Status)
			require.Equal(t, taskstate.StatusRunning, e.get(ids[2]).Status)
			// The zombie's writes are refused and change nothing.
			requireLeaseLost(t, e.m.Commit(e.ctx, short[1], "zombie", ""))
			lost, err := e.m.Heartbeat(e.ctx, []taskstate.LeaseRef{short[1].Ref()}, time.Minute)
			require.NoError(t, err)
			require.Equal(t, []string{short[1].ID}, lost)
			_, err = e.m.Return(e.ctx, short[1], errors.New("zombie"))
			requireLeaseLost(t, err)
			stored := e.get(ids[1])
			require.Equal(t, taskstate.StatusWaiting, stored.Status)
			require.Empty(t, stored.Res)
			require.Equal(t, counts(1, 1, 0, 0, 1), e.stat())
		}},

		{name: "Reap/CommitBetweenReadAndWriteWins", fn: func(t *testing.T, e *env) {
			id := e.create(specs("noop", 1)...)[0]
			task := e.claim(taskstate.ClaimOptions{Lease: time.Second})[0]
			e.clock.Advance(time.Minute)
			expired, err := e.store.ListExpired(e.ctx, taskstate.ListExpiredParams{Pool: "pool_a", Now: e.clock.Now()})
			require.NoError(t, err)
			require.Len(t, expired, 1)
			// The slow worker commits after the reaper read the task ...
			require.NoError(t, e.m.Commit(e.ctx, task, "late but done", ""))
			// ... so the reaper's fenced write must not move it back.
			applied, err := e.store.Finish(e.ctx, taskstate.FinishParams{Pool: "pool_a", Now: e.clock.Now(), Items: []taskstate.Transition{
				{ID: expired[0].ID, Token: expired[0].Lease.Token, To: taskstate.StatusWaiting},
			}})
			require.NoError(t, err)
			require.Equal(t, []bool{false}, applied)
			require.Equal(t, taskstate.StatusDone, e.get(id).Status)
		}},

		{name: "RunOne/CommitsReturnsAndReleases", fn: func(t *testing.T, e *env) {
			e.create(taskstate.TaskSpec{Kind: "noop", Def: "ok"}, taskstate.TaskSpec{Kind: "noop", Def: "err"},
				taskstate.TaskSpec{Kind: "noop", Def: "panic"}, taskstate.TaskSpec{Kind: "noop", Def: "cancel"})
			stopped := false
			run := func(ctx context.Context) (bool, error) {
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				return e.m.RunOne(ctx, taskstate.ClaimOptions{Owner: "w"}, "", func(ctx context.Context, t *taskstate.Task, param any) (any, error) {
					switch param {
					case "err":
						return nil, errors.New("handler error")
					case "panic":
						panic("handler panic")
					case "cancel": // the worker stops while the handler runs, the first time
						if stopped {
							break
						}
						stopped = true
						cancel()
						<-ctx.Done()
						return nil, ctx.Err()
					}
					return "result of " + param.(string), nil
				})
			}
			ran, err := run(e.ctx)
			require.True(t, ran)
			require.NoError(t, err)
			ran, err = run(e.ctx)
			require.True(t, ran)
			require.ErrorContains(t, err, "handler error")
			ran, err = run(e.ctx)
			require.True(t, ran)
			require.ErrorIs(t, err, taskstate.ErrPanic)
			ran, err = run(e.ctx)
			require.True(t, ran)
			require.ErrorIs(t, err, context.Canceled)
			ran, err = run(e.ctx)
			require.NoError(t, err)
			require.True(t, ran, "the cancelled task was released at once")
			ran, err = run(e.ctx)
			require.NoError(t, err)
			require.False(t, ran, "the others wait out their backoff")
			require.Equal(t, counts(2, 0, 0, 2, 0), e.stat())
			var errs []string
			for task, err := range e.m.Query(e.ctx, taskstate.ByStatus(taskstate.StatusWaiting), taskstate.QueryOptions{}) {
				require.NoError(t, err)
				errs = append(errs, task.LastError)
			}
			require.ElementsMatch(t, []string{"handler error", "panic: handler panic"}, errs)
		}},

		{name: "RunOne/UndecodablePayloadFailsOnlyItsTask", fn: func(t *testing.T, e *env) {
			// A def written by another program that this one cannot decode.
			_, err := e.store.CreateTasks(e.ctx, taskstate.CreateTasksParams{Pool: "pool_a", Now: e.clock.Now(), Tasks: []taskstate.NewTask{
				{ID: taskstate.NewID(), Kind: "noop", Key: "bad", Def: []byte("\x07garbage that is not gob"), Filter: map[string]any{"value": "bad"}, MaxAttempts: 3},
			}})
			require.NoError(t, err)
			good := e.create(taskstate.TaskSpec{Kind: "noop", Def: "good"})[0]
			var ran []any
			for {
				ok, err := e.m.RunOne(e.ctx, taskstate.ClaimOptions{}, "", func(ctx context.Context, t *taskstate.Task, param any) (any, error) {
					ran = append(ran, param)
					return param, nil
				})
				if !ok {
					break
				}
				if err != nil {
					require.ErrorIs(t, err, taskstate.ErrDecode)
				}
			}
			require.Equal(t, []any{"good"}, ran)
			require.Equal(t, counts(0, 0, 0, 1, 1), e.stat())
			require.Equal(t, taskstate.StatusDone, e.get(good).Status)
			for task, err := range e.m.Query(e.ctx, taskstate.ByStatus(taskstate.StatusFailed), taskstate.QueryOptions{}) {
				require.NoError(t, err)
				require.Contains(t, task.LastError, "cannot decode payload")
			}
		}},

		{name: "Claim/ConcurrentClaimersNeverShare", atomic: true, fn: func(t *testing.T, e *env) {
			const n, claimers = 400, 8
			e.create(specs("noop", n)...)
			var (
				mu    sync.Mutex
				seen  = map[string]int{}
				wg    sync.WaitGroup
				fails = make(chan error, claimers)
			)
			for c := range claimers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						tasks, err := e.m.Claim(e.ctx, taskstate.ClaimOptions{Owner: "c" + string(rune('a'+c)), Limit: 4})
						if err != nil {
							fails <- err
							return
						}
						if len(tasks) == 0 {
							return
						}
						mu.Lock()
						for _, task := range tasks {
							seen[task.ID]++
						}
						mu.Unlock()
						for _, task := range tasks {
							if err := e.m.Commit(e.ctx, task, nil, ""); err != nil {
								fails <- err
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(fails)
			for err := range fails {
				require.NoError(t, err)
			}
			require.Len(t, seen, n)
			for id, k := range seen {
				require.Equal(t, 1, k, "task %s claimed %d times", id, k)
			}
			require.Equal(t, counts(0, 0, 0, n, 0), e.stat())
		}},
	})
}
