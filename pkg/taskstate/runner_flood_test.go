package taskstate_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
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
