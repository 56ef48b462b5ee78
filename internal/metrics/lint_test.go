package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// fullRegistry registers everything this package offers, with a value in
// every metric.
func fullRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	w, err := metrics.NewWorker(reg, "train", []string{"fit", "noop"})
	require.NoError(t, err)
	stat := func(context.Context, string) (taskstate.Counts, error) { return taskstate.NewCounts(), nil }
	reg.MustRegister(metrics.NewPoolCollector(stat, metrics.StaticPools("train"), time.Second, zaptest.NewLogger(t)))
	paused := func(context.Context, string) (taskstate.PoolState, error) { return taskstate.PoolState{}, nil }
	reg.MustRegister(metrics.NewPausedCollector(paused, metrics.StaticPools("train"), time.Second, zaptest.NewLogger(t)))

	w.Claimed(1)
	w.Committed(1)
	w.Retried(1)
	w.Failed(1)
	w.Released(1)
	w.Reaped(1, 1)
	w.LeaseLost(1)
	w.Ran("fit", time.Minute, "ok")
	w.Pickup(time.Millisecond)
	w.InFlight(1)
	w.ObserveStore("claim", time.Millisecond, nil)
	return reg
}

func TestLint(t *testing.T) {
	t.Parallel()
	problems, err := testutil.GatherAndLint(fullRegistry(t))
	require.NoError(t, err)
	require.Empty(t, problems)
}
