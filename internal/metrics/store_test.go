package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestStoreObserve(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	s, err := metrics.NewStore(reg)
	require.NoError(t, err)

	n, err := testutil.GatherAndCount(reg, "taskfleet_store_operation_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 16*2, n, "every known op × result at zero")

	s.Observe("claim", 3*time.Millisecond, nil)
	s.Observe("claim", 7*time.Millisecond, errors.New("connection reset"))
	s.Observe("claim", time.Second, context.DeadlineExceeded)
	s.Observe("get", time.Millisecond, fmt.Errorf("wrapped: %w", taskstate.ErrNotFound))
	s.Observe("heartbeat", 5*time.Second, context.Canceled) // a stopping worker: not recorded
	s.Observe("list_pools", 2*time.Millisecond, nil)        // an op added later: recorded

	type key struct{ op, result string }
	cases := map[key]struct {
		n   uint64
		sum float64
	}{
		{"claim", "ok"}:         {1, 0.003},
		{"claim", "error"}:      {2, 1.007},
		{"get", "ok"}:           {1, 0.001},
		{"get", "error"}:        {0, 0},
		{"heartbeat", "ok"}:     {0, 0},
		{"heartbeat", "error"}:  {0, 0},
		{"list_pools", "ok"}:    {1, 0.002},
		{"prioritize", "error"}: {0, 0},
		{"retry_failed", "ok"}:  {0, 0},
		{"reset_status", "ok"}:  {0, 0},
		{"list_expired", "ok"}:  {0, 0},
		{"reap", "error"}:       {0, 0},
		{"commit", "ok"}:        {0, 0},
		{"return", "error"}:     {0, 0},
		{"release", "ok"}:       {0, 0},
		{"fail", "ok"}:          {0, 0},
		{"create", "ok"}:        {0, 0},
		{"remove", "ok"}:        {0, 0},
		{"stat", "error"}:       {0, 0},
	}
	for k, want := range cases {
		h := series(t, reg, "taskfleet_store_operation_duration_seconds",
			map[string]string{"op": k.op, "result": k.result}).GetHistogram()
		require.Equal(t, want.n, h.GetSampleCount(), "%v", k)
		require.InDelta(t, want.sum, h.GetSampleSum(), 1e-9, "%v", k)
	}
}

func TestStoreBuckets(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	s, err := metrics.NewStore(reg)
	require.NoError(t, err)
	s.Observe("stat", 40*time.Millisecond, nil)

	const want = `
# HELP taskfleet_store_operation_duration_seconds Duration of task-store operations by operation (create, claim, commit, heartbeat, ...) and result (ok, error).
# TYPE taskfleet_store_operation_duration_seconds histogram
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.0001"} 0
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.00025"} 0
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.0005"} 0
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.001"} 0
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.0025"} 0
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.005"} 0
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.01"} 0
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.025"} 0
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.05"} 1
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.1"} 1
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.25"} 1
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="0.5"} 1
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="1"} 1
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="2.5"} 1
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="5"} 1
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="10"} 1
taskfleet_store_operation_duration_seconds_bucket{op="stat",result="ok",le="+Inf"} 1
taskfleet_store_operation_duration_seconds_sum{op="stat",result="ok"} 0.04
taskfleet_store_operation_duration_seconds_count{op="stat",result="ok"} 1
`
	g := only(reg, map[string]string{"op": "stat", "result": "ok"})
	require.NoError(t, testutil.GatherAndCompare(g, strings.NewReader(want), "taskfleet_store_operation_duration_seconds"))
}
