package taskstate_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// TestRunnerRegistersItself: a runner with a Worker entry is listed as a
// live worker while it runs (its id, kinds and concurrency filled in), its
// heartbeat renews the entry once a lease, and it is gone once Run returns.
func TestRunnerRegistersItself(t *testing.T) {
	m := newManager(t, "p")
	noop := func(context.Context, *taskstate.Task, any) (any, error) { return nil, nil }
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Owner: "host:1", Concurrency: 3, Lease: taskstate.MinLease, PollInterval: 10 * time.Millisecond,
		Handlers: map[string]taskstate.HandlerFunc{"b": noop, "a": noop},
		Worker:   &taskstate.WorkerInfo{Host: "host", PID: 1, Version: "v0"},
	})
	require.NoError(t, err)
	stop := startRunner(t, r)
	var first, w taskstate.WorkerInfo
	require.Eventually(t, func() bool {
		ws, err := m.Workers(context.Background())
		if err != nil || len(ws) != 1 {
			return false
		}
		if first.ID == "" {
			first = ws[0]
		}
		w = ws[0]
		return w.SeenAt.After(first.SeenAt) // renewed by a heartbeat
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "host:1", w.ID)
	require.Equal(t, []string{"a", "b"}, w.Kinds)
	require.Equal(t, 3, w.Concurrency)
	require.Equal(t, taskstate.StatusWaiting, w.From)
	require.Equal(t, "v0", w.Version)
	require.Equal(t, 2*taskstate.MinLease, w.ExpiresAt.Sub(w.SeenAt), "an entry lasts two leases")
	require.GreaterOrEqual(t, w.SeenAt.Sub(first.SeenAt), taskstate.MinLease*5/6, "renewed once a lease, not at every beat")
	stop()
	ws, err := m.Workers(context.Background())
	require.NoError(t, err)
	require.Empty(t, ws, "a stopped runner removes its entry")
}
