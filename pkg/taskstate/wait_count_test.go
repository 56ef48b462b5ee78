package taskstate_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// statCounting counts the Stat calls that reach the store it wraps.
type statCounting struct {
	taskstate.Store
	n atomic.Int64
}

func (s *statCounting) Stat(ctx context.Context, p taskstate.StatParams) (taskstate.Counts, error) {
	s.n.Add(1)
	return s.Store.Stat(ctx, p)
}

// TestWaitIncrementalCounts: a Wait on a trainer's ids in a shared pool
// recounts on each wake-up from the ids still undone, and every such count
// equals a full count of the query at that moment; only the first count
// and the answer are full counts.
func TestWaitIncrementalCounts(t *testing.T) {
	t.Parallel()
	runManagerCases(t, []managerCase{{name: "Wait/IncrementalMatchesFull", fn: func(t *testing.T, e *env) {
		wrapped := &statCounting{Store: e.store}
		m, err := taskstate.NewManager(taskstate.Config{Store: wrapped, Pool: "pool_a", Now: e.clock.Now})
		require.NoError(t, err)
		mine := e.create(specsFrom("noop", 0, 8)...)
		e.create(specsFrom("other", 100, 20)...) // the rest of the pool
		q := taskstate.ByIDs(mine...)

		wake := make(chan struct{}, 1)
		progress := make(chan taskstate.Counts, 1)
		done := make(chan error, 1)
		var res taskstate.WaitResult
		go func() {
			var err error
			res, err = m.Wait(e.ctx, taskstate.WaitOptions{
				Query: q, Wakeups: wake, Fallback: time.Hour,
				Progress: func(c taskstate.Counts) { progress <- c },
			})
			done <- err
		}()
		full := func() taskstate.Counts {
			t.Helper()
			c, err := e.m.Stat(e.ctx, q)
			require.NoError(t, err)
			return c
		}
		require.Equal(t, full(), <-progress, "the first count")
		step := func(what string, op func()) {
			t.Helper()
			op()
			wake <- struct{}{}
			require.Equal(t, full(), <-progress, "after %s", what)
		}
		var held []*taskstate.Task
		step("claiming 3", func() { held = e.claim(taskstate.ClaimOptions{Limit: 3}) })
		step("committing one to done", func() { require.NoError(t, e.m.Commit(e.ctx, held[0], "r", taskstate.StatusDone)) })
		step("committing one to part_done", func() { require.NoError(t, e.m.Commit(e.ctx, held[1], "r", taskstate.StatusPartDone)) })
		step("failing one", func() { require.NoError(t, e.m.Fail(e.ctx, held[2], errors.New("boom"))) })
		step("finishing the rest", func() {
			for {
				tasks := e.claim(taskstate.ClaimOptions{Limit: 10, Kinds: []string{"noop"}})
				tasks = append(tasks, e.claim(taskstate.ClaimOptions{Limit: 10, From: taskstate.StatusPartDone})...)
				if len(tasks) == 0 {
					return
				}
				for _, task := range tasks {
					require.NoError(t, e.m.Commit(e.ctx, task, "r", taskstate.StatusDone))
				}
			}
		})
		require.NoError(t, <-done)
		require.Equal(t, full(), res.Counts)
		require.Equal(t, 7, res.Counts[taskstate.StatusDone])
		require.Equal(t, 1, res.Counts[taskstate.StatusFailed])
		// Each full() above is one Stat; the Wait made two more: its first
		// count and the one that confirmed the answer.
		require.Equal(t, int64(2), wrapped.n.Load(), "wake-ups recount by id, not with Stat")
	}}})
}
