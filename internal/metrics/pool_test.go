package metrics_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// fakeStat serves Counts per pool and counts its calls.
type fakeStat struct {
	mu     sync.Mutex
	counts map[string]taskstate.Counts
	errs   map[string]error
	calls  atomic.Int64
}

func (f *fakeStat) stat(_ context.Context, pool string) (taskstate.Counts, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[pool]; err != nil {
		return nil, err
	}
	c := taskstate.NewCounts()
	for s, n := range f.counts[pool] {
		c[s] = n
	}
	return c, nil
}

// clock is a settable clock for the collector's cache.
type clock struct{ now atomic.Pointer[time.Time] }

func newClock() *clock {
	c := &clock{}
	c.set(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return c
}

func (c *clock) Now() time.Time          { return *c.now.Load() }
func (c *clock) set(t time.Time)         { c.now.Store(&t) }
func (c *clock) advance(d time.Duration) { c.set(c.Now().Add(d)) }

func TestPoolCollectorReportsEveryStatus(t *testing.T) {
	t.Parallel()
	f := &fakeStat{counts: map[string]taskstate.Counts{
		"train":    {taskstate.StatusWaiting: 7, taskstate.StatusRunning: 2, taskstate.StatusDone: 40},
		"backtest": {taskstate.StatusFailed: 1},
	}}
	c := metrics.NewPoolCollector(f.stat, metrics.StaticPools("train", "backtest", "train"), time.Second, zaptest.NewLogger(t))
	metrics.SetPoolClock(c, newClock().Now) // time stands still: one reading serves every collection

	const want = `
# HELP taskfleet_tasks Tasks in the pool by status (waiting, running, part_done, done, failed), read from the store at scrape time.
# TYPE taskfleet_tasks gauge
taskfleet_tasks{pool="backtest",status="done"} 0
taskfleet_tasks{pool="backtest",status="failed"} 1
taskfleet_tasks{pool="backtest",status="part_done"} 0
taskfleet_tasks{pool="backtest",status="running"} 0
taskfleet_tasks{pool="backtest",status="waiting"} 0
taskfleet_tasks{pool="train",status="done"} 40
taskfleet_tasks{pool="train",status="failed"} 0
taskfleet_tasks{pool="train",status="part_done"} 0
taskfleet_tasks{pool="train",status="running"} 2
taskfleet_tasks{pool="train",status="waiting"} 7
# HELP taskfleet_pool_stat_up 1 if the last reading of the store got the task counts of every pool, else 0.
# TYPE taskfleet_pool_stat_up gauge
taskfleet_pool_stat_up 1
# HELP taskfleet_pool_stat_errors_total Failed readings of task counts from the store (listing the pools or counting one pool's tasks).
# TYPE taskfleet_pool_stat_errors_total counter
taskfleet_pool_stat_errors_total 0
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))
	require.Equal(t, 2*5+2, testutil.CollectAndCount(c))
	require.Equal(t, int64(2), f.calls.Load(), "one stat per distinct pool")

	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestPoolCollectorStatError(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := &fakeStat{
		counts: map[string]taskstate.Counts{"train": {taskstate.StatusWaiting: 3}},
		errs:   map[string]error{"backtest": errors.New("store unreachable")},
	}
	c := metrics.NewPoolCollector(f.stat, metrics.StaticPools("train", "backtest"), time.Second, zaptest.NewLogger(t))
	metrics.SetPoolClock(c, clk.Now)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	// The failing pool is left out; the other is still reported.
	n, err := testutil.GatherAndCount(reg, "taskfleet_tasks")
	require.NoError(t, err)
	require.Equal(t, 5, n)
	require.InDelta(t, 3.0, series(t, reg, "taskfleet_tasks", map[string]string{"pool": "train", "status": "waiting"}).GetGauge().GetValue(), 0)
	const down = `
# HELP taskfleet_pool_stat_up 1 if the last reading of the store got the task counts of every pool, else 0.
# TYPE taskfleet_pool_stat_up gauge
taskfleet_pool_stat_up 0
# HELP taskfleet_pool_stat_errors_total Failed readings of task counts from the store (listing the pools or counting one pool's tasks).
# TYPE taskfleet_pool_stat_errors_total counter
taskfleet_pool_stat_errors_total 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(down), "taskfleet_pool_stat_up", "taskfleet_pool_stat_errors_total"))

	// The failure is cached like a success: a second scrape does not retry.
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(down), "taskfleet_pool_stat_up", "taskfleet_pool_stat_errors_total"))

	// The store recovers.
	f.mu.Lock()
	delete(f.errs, "backtest")
	f.mu.Unlock()
	clk.advance(metrics.PoolCacheTTL)
	const up = `
# HELP taskfleet_pool_stat_up 1 if the last reading of the store got the task counts of every pool, else 0.
# TYPE taskfleet_pool_stat_up gauge
taskfleet_pool_stat_up 1
# HELP taskfleet_pool_stat_errors_total Failed readings of task counts from the store (listing the pools or counting one pool's tasks).
# TYPE taskfleet_pool_stat_errors_total counter
taskfleet_pool_stat_errors_total 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(up), "taskfleet_pool_stat_up", "taskfleet_pool_stat_errors_total"))
	n, err = testutil.GatherAndCount(reg, "taskfleet_tasks")
	require.NoError(t, err)
	require.Equal(t, 10, n)
}

func TestPoolCollectorListError(t *testing.T) {
	t.Parallel()
	f := &fakeStat{}
	pools := func(context.Context) ([]string, error) { return nil, errors.New("list failed") }
	c := metrics.NewPoolCollector(f.stat, pools, time.Second, zaptest.NewLogger(t))

	const want = `
# HELP taskfleet_pool_stat_up 1 if the last reading of the store got the task counts of every pool, else 0.
# TYPE taskfleet_pool_stat_up gauge
taskfleet_pool_stat_up 0
# HELP taskfleet_pool_stat_errors_total Failed readings of task counts from the store (listing the pools or counting one pool's tasks).
# TYPE taskfleet_pool_stat_errors_total counter
taskfleet_pool_stat_errors_total 1
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))
	require.Zero(t, f.calls.Load())
}

func TestPoolCollectorTimeout(t *testing.T) {
	t.Parallel()
	// A store that answers only when the context ends.
	stat := func(ctx context.Context, _ string) (taskstate.Counts, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	c := metrics.NewPoolCollector(stat, metrics.StaticPools("train"), 20*time.Millisecond, zaptest.NewLogger(t))
	metrics.SetPoolClock(c, newClock().Now)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	fams := families(t, reg)
	require.NotContains(t, fams, "taskfleet_tasks")
	require.InDelta(t, 0.0, series(t, reg, "taskfleet_pool_stat_up", map[string]string{}).GetGauge().GetValue(), 0)
	require.InDelta(t, 1.0, series(t, reg, "taskfleet_pool_stat_errors_total", map[string]string{}).GetCounter().GetValue(), 0)
}

func TestPoolCollectorCache(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := &fakeStat{counts: map[string]taskstate.Counts{"a": {taskstate.StatusWaiting: 1}}}
	c := metrics.NewPoolCollector(f.stat, metrics.StaticPools("a", "b"), time.Second, zaptest.NewLogger(t))
	metrics.SetPoolClock(c, clk.Now)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	// Concurrent scrapes share one reading.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := reg.Gather()
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Equal(t, int64(2), f.calls.Load(), "one stat per pool for all eight scrapes")

	clk.advance(metrics.PoolCacheTTL - time.Millisecond)
	_, err := reg.Gather()
	require.NoError(t, err)
	require.Equal(t, int64(2), f.calls.Load(), "still fresh")

	f.mu.Lock()
	f.counts["a"] = taskstate.Counts{taskstate.StatusWaiting: 0, taskstate.StatusDone: 1}
	f.mu.Unlock()
	clk.advance(time.Millisecond)
	require.InDelta(t, 1.0, series(t, reg, "taskfleet_tasks", map[string]string{"pool": "a", "status": "done"}).GetGauge().GetValue(), 0)
	require.Equal(t, int64(4), f.calls.Load(), "read again once stale")
}
