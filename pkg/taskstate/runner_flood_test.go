package taskstate_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// claimCounter counts every claim call of a runner, empty ones included.
type claimCounter struct {
	claims, committed atomic.Int64
}

func (c *claimCounter) Claimed(int)                                  { c.claims.Add(1) }
func (c *claimCounter) Committed(n int)                              { c.committed.Add(int64(n)) }
func (c *claimCounter) Retried(int)                                  {}
func (c *claimCounter) Failed(int)                                   {}
func (c *claimCounter) Released(int)                                 {}
func (c *claimCounter) Reaped(int, int)                              {}
func (c *claimCounter) LeaseLost(int)                                {}
func (c *claimCounter) InFlight(int)                                 {}
func (c *claimCounter) Ran(string, time.Duration, taskstate.Outcome) {}
func (c *claimCounter) Pickup(time.Duration)                         {}

// TestRunnerBacksOffEmptyWakeups floods an idle runner with wake-ups for
// a second: its claims stay bounded (the back-off of empty wake-ups, up to
// half the poll interval, plus the poll), and a task created meanwhile is
// run within the poll interval.
func TestRunnerBacksOffEmptyWakeups(t *testing.T) {
	m := newManager(t, "flood")
	wake := make(chan struct{})
	met := &claimCounter{}
	const poll = 400 * time.Millisecond
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Handlers: map[string]taskstate.HandlerFunc{"noop": func(context.Context, *taskstate.Task, any) (any, error) { return 1, nil }},
		PollInterval: poll, Wakeups: wake, ReapInterval: -1, Metrics: met,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	flooded := make(chan int)
	go func() { // offers a wake-up whenever the runner will take one
		n := 0
		defer func() { flooded <- n }()
		for {
			select {
			case wake <- struct{}{}:
				n++
			case <-ctx.Done():
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()

	_, err = m.Create(t.Context(), []taskstate.TaskSpec{{Kind: "noop", Def: map[string]any{"x": 1}}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	created := time.Now()
	require.Eventually(t, func() bool { return met.committed.Load() == 1 }, poll*6/5+300*time.Millisecond, time.Millisecond,
		"the task created during the flood is done within the poll interval")
	t.Logf("task done %s after create", time.Since(created).Round(time.Millisecond))
	<-done
	taken := <-flooded
	// 1 s: 9 claims while the back-off grows to 200 ms (twice: the task
	// found resets it), then 5 a second; polls every 320-480 ms; the
	// task's own claim and the first. Without the back-off: thousands.
	claims := met.claims.Load()
	t.Logf("%d wake-ups taken, %d claims in 1 s", taken, claims)
	require.LessOrEqual(t, claims, int64(2*9+5+4+2))
}

// wokenLog wraps the real store and hands each Claim's Woken to the test.
type wokenLog struct {
	*sqlitestore.Store
	woken chan bool
}

func (s *wokenLog) Claim(ctx context.Context, p taskstate.ClaimParams) ([]*taskstate.Task, error) {
	tasks, err := s.Store.Claim(ctx, p)
	select {
	case s.woken <- p.Woken:
	case <-ctx.Done(): // the runner stops
	}
	return tasks, err
}

// TestRunnerTrustsWakeupsUntilOneMisses: a claim asked for by a wake-up is
// marked Woken (the store skips its read probe) while the wake-up claims
// find work; after one finds nothing the next wake-up's claim probes
// again, until a claim finds a task. A claim no wake-up asked for (the
// start's, as a poll's) is not Woken.
func TestRunnerTrustsWakeupsUntilOneMisses(t *testing.T) {
	s := &wokenLog{Store: openSQLite(t), woken: make(chan bool, 1)}
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "trust"})
	require.NoError(t, err)
	wake, release := make(chan struct{}), make(chan struct{})
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		// The tasks hold their slots (two of four) so that no commit's
		// claim comes between the test's wake-ups and their claims.
		Manager: m, Handlers: map[string]taskstate.HandlerFunc{"hold": func(context.Context, *taskstate.Task, any) (any, error) {
			<-release
			return 1, nil
		}},
		Concurrency: 4, PollInterval: time.Hour, Wakeups: wake, ReapInterval: -1,
	})
	require.NoError(t, err)
	startRunner(t, r)
	t.Cleanup(func() { close(release) }) // before the runner's stop
	step := 0
	next := func() bool {
		t.Helper()
		step++
		select {
		case w := <-s.woken:
			return w
		case <-time.After(10 * time.Second):
			t.Fatalf("no claim at step %d", step)
			return false
		}
	}
	create := func() {
		t.Helper()
		_, err := m.Create(t.Context(), []taskstate.TaskSpec{{Kind: "hold", Def: map[string]any{"at": time.Now().UnixNano()}}}, taskstate.CreateOptions{})
		require.NoError(t, err)
	}
	require.False(t, next(), "the first claim is the start's, not a wake-up's")
	create()
	wake <- struct{}{}
	require.True(t, next(), "a wake-up's claim")
	wake <- struct{}{} // no task: a miss
	require.True(t, next(), "still trusted: the last wake-up claim found work")
	wake <- struct{}{} // taken once the back-off ends
	require.False(t, next(), "after a miss the wake-up's claim probes")
	create()
	wake <- struct{}{}
	require.False(t, next(), "still probing: no claim found work since the miss")
	wake <- struct{}{}
	require.True(t, next(), "trusted again after a claim found the task")
}
