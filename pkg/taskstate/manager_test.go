package taskstate_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/internal/mongotest"
	"github.com/taskfleet/taskfleet/pkg/taskstate/mongostore"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// The Manager tests (manager_*_test.go) run every case on every backend:
// TestManagerClaimAndFinish/sqlite/Commit/TwoPhase,
// TestManagerClaimAndFinish/mongo/Commit/TwoPhase, … Each case gets a fresh
// store. The Mongo cases skip when no server is configured (see
// mongotest.URI).

// managerCase is one Manager test, run on each backend.
type managerCase struct {
	name   string
	atomic bool // needs atomic concurrent claims
	fn     func(t *testing.T, e *env)
}

// backend opens fresh, empty stores of one kind.
type backend struct {
	name string
	open func(t *testing.T) taskstate.Store
	// noAtomicClaims, when set, says why the atomicity cases are skipped
	// ("" when they run).
	noAtomicClaims func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{name: "sqlite", open: func(t *testing.T) taskstate.Store {
			t.Helper()
			s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
			require.NoError(t, err)
			return s
		}},
		{name: "mongo", open: openMongo, noAtomicClaims: mongoAtomic},
	}
}

func openMongo(t *testing.T) taskstate.Store {
	t.Helper()
	uri := mongotest.URI(t)
	db := mongotest.Database(t, uri)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongostore.Open(ctx, mongostore.Config{URI: uri, Database: db})
	require.NoError(t, err)
	return s
}

// mongoAtomic returns why the Mongo test server's concurrent claims are
// not atomic, or "" when they are. It skips t when no server is configured.
func mongoAtomic(t *testing.T) string {
	t.Helper()
	s := openMongo(t).(*mongostore.Store)
	defer s.Close()
	ferret, err := s.IsFerretDB(t.Context())
	require.NoError(t, err)
	if ferret {
		return "the server is FerretDB (buildInfo reports ferretdb fields), whose findAndModify is not atomic under concurrency; point " + mongotest.EnvURI + " at a real MongoDB to run it"
	}
	return ""
}

// runManagerCases runs each case on each backend, in parallel subtests.
func runManagerCases(t *testing.T, cases []managerCase) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			noAtomic := ""
			if b.noAtomicClaims != nil {
				noAtomic = b.noAtomicClaims(t)
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					if c.atomic && noAtomic != "" {
						t.Skipf("skipped: needs atomic concurrent claims: %s", noAtomic)
					}
					c.fn(t, newEnv(t, b.open(t)))
				})
			}
		})
	}
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
	notes *notes
}

// notes counts the events a Manager publishes.
type notes struct {
	mu     sync.Mutex
	events map[taskstate.Event]int
}

func (r *notes) Notify(_ context.Context, _ string, ev taskstate.Event, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[ev] += n
}

func (r *notes) count(ev taskstate.Event) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[ev]
}

// newEnv wraps s, which it closes when the test ends.
func newEnv(t *testing.T, s taskstate.Store) *env {
	t.Helper()
	t.Cleanup(func() { _ = s.Close() })
	e := &env{t: t, ctx: t.Context(), store: s, clock: NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), notes: &notes{events: map[taskstate.Event]int{}}}
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

func requireLeaseLost(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, taskstate.ErrLeaseLost)
}

func requireInvalidQuery(t *testing.T, err error, path string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, taskstate.ErrInvalidQuery)
	require.ErrorContains(t, err, path)
}
