package taskstatetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Harness tells Run how to get stores of the backend under test.
type Harness struct {
	// NewStore returns a new, empty store; the harness closes it when the
	// test ends. Required.
	NewStore func(t *testing.T) taskstate.Store
	// NoAtomicClaims marks a backend whose concurrent claims are not atomic;
	// the cases that check atomicity are skipped with SkipReason.
	NoAtomicClaims bool
	// SkipReason explains NoAtomicClaims in the test output.
	SkipReason string
}

// Clock is a settable clock for Manager.Now.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is one case's store, clock and manager.
type env struct {
	t     *testing.T
	ctx   context.Context
	store taskstate.Store
	clock *Clock
	m     *taskstate.Manager
	notes *recorder
}

type recorder struct {
	mu     sync.Mutex
	events map[taskstate.Event]int
}

func (r *recorder) Notify(_ context.Context, _ string, ev taskstate.Event, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[ev] += n
}

func (r *recorder) count(ev taskstate.Event) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[ev]
}

func newEnv(t *testing.T, h Harness) *env {
	t.Helper()
	s := h.NewStore(t)
	t.Cleanup(func() { _ = s.Close() })
	e := &env{t: t, ctx: context.Background(), store: s, clock: NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), notes: &recorder{events: map[taskstate.Event]int{}}}
	e.m = e.manager("pool_a")
	return e
}

func (e *env) manager(pool string) *taskstate.Manager {
	m, err := taskstate.NewManager(taskstate.Config{
		Store: e.store, Pool: pool, Now: e.clock.Now, Notifier: e.notes,
		Backoff: func(attempt int) time.Duration { return time.Duration(attempt) * time.Minute },
	})
	require.NoError(e.t, err)
	return m
}

// def builds a Qlib-shaped task def.
func def(model string, i int) map[string]any {
	return map[string]any{
		"model":   map[string]any{"class": model, "kwargs": map[string]any{"alpha": float64(i)}},
		"dataset": map[string]any{"kwargs": map[string]any{"segments": map[string]any{"test": []any{fmt.Sprintf("2020-%02d-01", i%12+1), nil}}}},
		"index":   float64(i),
	}
}

func (e *env) create(specs ...taskstate.TaskSpec) []string {
	e.t.Helper()
	res, err := e.m.Create(e.ctx, specs, taskstate.CreateOptions{})
	require.NoError(e.t, err)
	return res.IDs
}

func specs(kind string, n int) []taskstate.TaskSpec {
	out := make([]taskstate.TaskSpec, n)
	for i := range out {
		out[i] = taskstate.TaskSpec{Kind: kind, Def: def("Linear", i)}
	}
	return out
}

func (e *env) claim(opts taskstate.ClaimOptions) []*taskstate.Task {
	e.t.Helper()
	if opts.Owner == "" {
		opts.Owner = "worker-1"
	}
	tasks, err := e.m.Claim(e.ctx, opts)
	require.NoError(e.t, err)
	return tasks
}

func (e *env) claimOne() *taskstate.Task {
	e.t.Helper()
	tasks := e.claim(taskstate.ClaimOptions{})
	require.Len(e.t, tasks, 1)
	return tasks[0]
}

func (e *env) get(id string) *taskstate.Task {
	e.t.Helper()
	task, err := e.m.Get(e.ctx, id)
	require.NoError(e.t, err)
	return task
}

func (e *env) stat() taskstate.Counts {
	e.t.Helper()
	c, err := e.m.Stat(e.ctx, taskstate.Query{})
	require.NoError(e.t, err)
	return c
}

func (e *env) ids(q taskstate.Query) []string {
	e.t.Helper()
	var out []string
	for task, err := range e.m.Query(e.ctx, q, taskstate.QueryOptions{}) {
		require.NoError(e.t, err)
		out = append(out, task.ID)
	}
	return out
}

func counts(waiting, running, partDone, done, failed int) taskstate.Counts {
	return taskstate.Counts{
		taskstate.StatusWaiting: waiting, taskstate.StatusRunning: running, taskstate.StatusPartDone: partDone,
		taskstate.StatusDone: done, taskstate.StatusFailed: failed,
	}
}

// Run runs the whole suite under t.Run(name).
func Run(t *testing.T, name string, h Harness) {
	t.Run(name, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.atomic && h.NoAtomicClaims {
					t.Skipf("skipped: needs atomic concurrent claims: %s", h.SkipReason)
				}
				c.fn(t, h)
			})
		}
	})
}

type testCase struct {
	name   string
	atomic bool // needs atomic concurrent claims
	fn     func(t *testing.T, h Harness)
}

var cases []testCase

func add(name string, fn func(t *testing.T, h Harness)) {
	cases = append(cases, testCase{name: name, fn: fn})
}

func addAtomic(name string, fn func(t *testing.T, h Harness)) {
	cases = append(cases, testCase{name: name, atomic: true, fn: fn})
}

func requireLeaseLost(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, taskstate.ErrLeaseLost), "want ErrLeaseLost, got %v", err)
}

func requireInvalidQuery(t *testing.T, err error, path string) {
	t.Helper()
	require.Error(t, err)
	require.True(t, errors.Is(err, taskstate.ErrInvalidQuery), "want ErrInvalidQuery, got %v", err)
	require.True(t, strings.Contains(err.Error(), path), "error %q does not name %q", err, path)
}
