package taskstate_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// countingManager returns a Manager on a fresh SQLite file whose claims
// (the store calls) are counted in claims.
func countingManager(t *testing.T, backoff time.Duration, claims *atomic.Int64) *taskstate.Manager {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p",
		Backoff: func(int) time.Duration { return backoff },
		Observe: func(op string, _ time.Duration, _ error) {
			if op == "claim" {
				claims.Add(1)
			}
		}})
	require.NoError(t, err)
	return m
}

// While wake-ups flow the runner polls every EventPollInterval, not every
// PollInterval; once they stop it polls every PollInterval again.
func TestRunnerPollsLessWhileWakeupsAreLive(t *testing.T) {
	var claims atomic.Int64
	m := countingManager(t, time.Millisecond, &claims)
	var live atomic.Bool
	live.Store(true)
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, PollInterval: 10 * time.Millisecond, EventPollInterval: time.Hour,
		Wakeups: make(chan struct{}), WakeupsLive: live.Load,
		Handlers: map[string]taskstate.HandlerFunc{"k": func(context.Context, *taskstate.Task, any) (any, error) { return nil, nil }},
	})
	require.NoError(t, err)
	startRunner(t, r)
	require.Eventually(t, func() bool { return claims.Load() >= 1 }, 10*time.Second, time.Millisecond, "the first claim at start")

	// A window of 30 short polls: none of them goes to the store.
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, int64(1), claims.Load(), "no poll while wake-ups are live")

	live.Store(false)
	require.Eventually(t, func() bool { return claims.Load() >= 4 }, 10*time.Second, time.Millisecond,
		"polls every PollInterval once the wake-ups stop")
}

// A task returned with a backoff is claimed again when the backoff ends,
// though no event says so and the poll is an hour away.
func TestRunnerClaimsWhenABackoffEnds(t *testing.T) {
	var claims atomic.Int64
	m := countingManager(t, 100*time.Millisecond, &claims)
	_, err := m.Create(context.Background(), []taskstate.TaskSpec{{Kind: "flaky", Def: 1}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	var attempts atomic.Int64
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, PollInterval: time.Hour, EventPollInterval: time.Hour,
		Wakeups: make(chan struct{}), WakeupsLive: func() bool { return true },
		Handlers: map[string]taskstate.HandlerFunc{"flaky": func(context.Context, *taskstate.Task, any) (any, error) {
			if attempts.Add(1) == 1 {
				return nil, errors.New("not yet")
			}
			return "ok", nil
		}},
	})
	require.NoError(t, err)
	startRunner(t, r)
	c := waitDone(t, m, 30*time.Second)
	require.Equal(t, 1, c[taskstate.StatusDone])
	require.Equal(t, int64(2), attempts.Load())
}
