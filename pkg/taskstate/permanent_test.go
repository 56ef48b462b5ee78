package taskstate_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

func TestPermanentWrapsAndMatches(t *testing.T) {
	t.Parallel()
	require.NoError(t, taskstate.Permanent(nil))
	base := errors.New("window 0: want > 0")
	err := fmt.Errorf("task x: %w", taskstate.Permanent(base))
	require.True(t, taskstate.IsPermanent(err))
	require.ErrorIs(t, err, taskstate.ErrPermanent)
	require.ErrorIs(t, err, base, "the wrapped error stays reachable")
	var pe *taskstate.PermanentError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "window 0: want > 0", taskstate.Permanent(base).Error(), "the message is the wrapped error's")
	require.False(t, taskstate.IsPermanent(base))
	require.False(t, taskstate.IsPermanent(taskstate.ErrDecode), "a decode failure is not Permanent (the Runner fails it anyway)")
}

// A handler that returns Permanent(err) fails its task on the first
// attempt, whatever attempts it has left; so does a def that does not
// convert (ErrDecode); any other error is retried.
func TestRunnerFailsPermanentErrorsWithoutRetry(t *testing.T) {
	m := newManager(t, "p")
	ctx := context.Background()
	res, err := m.Create(ctx, []taskstate.TaskSpec{
		{Kind: "job", Def: "permanent", MaxAttempts: 5},
		{Kind: "job", Def: "undecodable", MaxAttempts: 5},
		{Kind: "job", Def: "flaky", MaxAttempts: 5},
	}, taskstate.CreateOptions{})
	require.NoError(t, err)
	met := newOutcomes()
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Concurrency: 2, PollInterval: 2 * time.Millisecond, Metrics: met,
		Handlers: map[string]taskstate.HandlerFunc{"job": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			switch param {
			case "permanent":
				return nil, fmt.Errorf("job: %w", taskstate.Permanent(errors.New("bad def")))
			case "undecodable":
				return nil, fmt.Errorf("%w: job: not a window", taskstate.ErrDecode)
			case "flaky":
				if task.Attempts < 2 {
					return nil, errors.New("flaky")
				}
			}
			return "ok", nil
		}},
	})
	require.NoError(t, err)
	startRunner(t, r)
	c := waitDone(t, m, 30*time.Second)
	require.Equal(t, 1, c[taskstate.StatusDone])
	require.Equal(t, 2, c[taskstate.StatusFailed])
	perm, err := m.Get(ctx, res.IDs[0])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusFailed, perm.Status)
	require.Equal(t, 1, perm.Attempts, "not retried")
	require.Equal(t, "job: bad def", perm.LastError)
	undecodable, err := m.Get(ctx, res.IDs[1])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusFailed, undecodable.Status)
	require.Equal(t, 1, undecodable.Attempts, "not retried")
	flaky, err := m.Get(ctx, res.IDs[2])
	require.NoError(t, err)
	require.Equal(t, 2, flaky.Attempts)
	require.Equal(t, map[taskstate.Outcome]int{taskstate.OutcomeError: 3, taskstate.OutcomeOK: 1}, met.ran())
	require.Equal(t, 2, met.failedN())
	require.Equal(t, 1, met.retriedN())
}

// outcomes is a RunnerMetrics that counts runs by outcome, and failures
// and retries.
type outcomes struct {
	mu      sync.Mutex
	byOut   map[taskstate.Outcome]int
	failed  int
	retried int
}

func newOutcomes() *outcomes { return &outcomes{byOut: map[taskstate.Outcome]int{}} }

func (o *outcomes) Ran(_ string, _ time.Duration, out taskstate.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.byOut[out]++
}

func (o *outcomes) Failed(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed += n
}

func (o *outcomes) Retried(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retried += n
}

func (o *outcomes) ran() map[taskstate.Outcome]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.byOut)
}

func (o *outcomes) failedN() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failed
}

func (o *outcomes) retriedN() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.retried
}

func (o *outcomes) Claimed(int)          {}
func (o *outcomes) Committed(int)        {}
func (o *outcomes) Released(int)         {}
func (o *outcomes) Reaped(int, int)      {}
func (o *outcomes) LeaseLost(int)        {}
func (o *outcomes) Pickup(time.Duration) {}
func (o *outcomes) InFlight(int)         {}

var _ taskstate.RunnerMetrics = (*outcomes)(nil)
