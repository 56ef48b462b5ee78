package metrics_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// TestWithRunner wires the metrics to a real Runner on SQLite, as a worker
// process does, and reads them back.
func TestWithRunner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reg := prometheus.NewPedanticRegistry()
	wm, err := metrics.NewWorker(reg, "p", []string{"ok", "boom"})
	require.NoError(t, err)

	store, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	defer store.Close()
	m, err := taskstate.NewManager(taskstate.Config{Store: store, Pool: "p", Observe: wm.ObserveStore})
	require.NoError(t, err)
	stat := func(ctx context.Context, _ string) (taskstate.Counts, error) { return m.Stat(ctx, taskstate.Query{}) }
	reg.MustRegister(metrics.NewPoolCollector(stat, metrics.StaticPools("p"), time.Second, zaptest.NewLogger(t)))

	_, err = m.Create(ctx, []taskstate.TaskSpec{
		{Kind: "ok", Def: 1},
		{Kind: "ok", Def: 2},
		{Kind: "boom", Def: 3, MaxAttempts: 1},
	}, taskstate.CreateOptions{})
	require.NoError(t, err)

	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m,
		Handlers: map[string]taskstate.HandlerFunc{
			"ok":   func(context.Context, *taskstate.Task, any) (any, error) { return "done", nil },
			"boom": func(context.Context, *taskstate.Task, any) (any, error) { return nil, errors.New("boom") },
		},
		PollInterval: 5 * time.Millisecond,
		Logger:       zaptest.NewLogger(t),
		Metrics:      wm,
	})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- r.Run(runCtx) }()
	res, err := m.Wait(ctx, taskstate.WaitOptions{Timeout: waitFor, Fallback: 5 * time.Millisecond})
	stop()
	require.NoError(t, <-ran)
	require.NoError(t, err)
	require.Equal(t, 2, res.Counts[taskstate.StatusDone])

	counter := func(name string, labels map[string]string) float64 {
		return series(t, reg, name, labels).GetCounter().GetValue()
	}
	p := map[string]string{"pool": "p"}
	require.InDelta(t, 3.0, counter("taskfleet_tasks_claimed_total", p), 0)
	require.InDelta(t, 2.0, counter("taskfleet_tasks_committed_total", p), 0)
	require.InDelta(t, 1.0, counter("taskfleet_tasks_failed_total", p), 0)
	require.InDelta(t, 0.0, counter("taskfleet_tasks_retried_total", p), 0)
	require.InDelta(t, 0.0, series(t, reg, "taskfleet_tasks_in_flight", p).GetGauge().GetValue(), 0)

	runs := func(kind, outcome string) uint64 {
		return series(t, reg, "taskfleet_task_run_duration_seconds",
			map[string]string{"pool": "p", "kind": kind, "outcome": outcome}).GetHistogram().GetSampleCount()
	}
	require.Equal(t, uint64(2), runs("ok", "ok"))
	require.Equal(t, uint64(1), runs("boom", "error"))
	require.Equal(t, uint64(3), series(t, reg, "taskfleet_task_pickup_latency_seconds", p).GetHistogram().GetSampleCount())

	storeCalls := func(op string) uint64 {
		return series(t, reg, "taskfleet_store_operation_duration_seconds",
			map[string]string{"op": op, "result": "ok"}).GetHistogram().GetSampleCount()
	}
	require.Equal(t, uint64(1), storeCalls("create"))
	require.NotZero(t, storeCalls("claim"))
	require.NotZero(t, storeCalls("commit")+storeCalls("commit_claim"), "commits, alone or with the next claim")
	require.Equal(t, uint64(1), storeCalls("return"), "the failing task, its attempts spent")

	const tasks = `
# HELP taskfleet_tasks Tasks in the pool by status (waiting, running, part_done, done, failed), read from the store at scrape time.
# TYPE taskfleet_tasks gauge
taskfleet_tasks{pool="p",status="done"} 2
taskfleet_tasks{pool="p",status="failed"} 1
taskfleet_tasks{pool="p",status="part_done"} 0
taskfleet_tasks{pool="p",status="running"} 0
taskfleet_tasks{pool="p",status="waiting"} 0
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(tasks), "taskfleet_tasks"))
}
