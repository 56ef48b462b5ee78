package taskstate_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

// openSQLite opens a store on a new file, closed when the test ends.
func openSQLite(t *testing.T) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func newManager(t *testing.T, pool string) *taskstate.Manager {
	t.Helper()
	m, err := taskstate.NewManager(taskstate.Config{Store: openSQLite(t), Pool: pool, Backoff: func(int) time.Duration { return time.Millisecond }})
	require.NoError(t, err)
	return m
}

// startRunner runs r until the test ends or stop is called; stop waits for Run to return.
func startRunner(t *testing.T, r *taskstate.Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func waitDone(t *testing.T, m *taskstate.Manager, timeout time.Duration) taskstate.Counts {
	t.Helper()
	res, err := m.Wait(context.Background(), taskstate.WaitOptions{Timeout: timeout, Fallback: 5 * time.Millisecond})
	require.NoError(t, err)
	return res.Counts
}

func TestRunnerRunsEveryTaskOnce(t *testing.T) {
	m := newManager(t, "p")
	const n = 300
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		specs[i] = taskstate.TaskSpec{Kind: "count", Def: i}
	}
	_, err := m.Create(context.Background(), specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	var mu sync.Mutex
	runs := map[int]int{}
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Concurrency: 8, PollInterval: 5 * time.Millisecond,
		Handlers: map[string]taskstate.HandlerFunc{"count": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			mu.Lock()
			runs[param.(int)]++
			mu.Unlock()
			return param.(int) * 2, nil
		}},
	})
	require.NoError(t, err)
	startRunner(t, r)
	c := waitDone(t, m, 30*time.Second)
	require.Equal(t, n, c[taskstate.StatusDone])
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, runs, n)
	for i, k := range runs {
		require.Equal(t, 1, k, "task %d ran %d times", i, k)
	}
}

func TestRunnerPoisonAndPanicFailOnlyThemselves(t *testing.T) {
	m := newManager(t, "p")
	ctx := context.Background()
	res, err := m.Create(ctx, []taskstate.TaskSpec{
		{Kind: "job", Def: "poison", MaxAttempts: 3},
		{Kind: "job", Def: "panic", MaxAttempts: 2},
		{Kind: "job", Def: "flaky", MaxAttempts: 3},
		{Kind: "job", Def: "good"},
	}, taskstate.CreateOptions{})
	require.NoError(t, err)
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Concurrency: 2, PollInterval: 2 * time.Millisecond,
		Handlers: map[string]taskstate.HandlerFunc{"job": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			switch param {
			case "poison":
				return nil, errors.New("always broken")
			case "panic":
				var m map[string]int
				m["x"] = 1 //nolint:govet,staticcheck // a real nil-map panic is the point
			case "flaky":
				if task.Attempts < 3 {
					return nil, errors.New("flaky")
				}
			}
			return "ok", nil
		}},
	})
	require.NoError(t, err)
	startRunner(t, r)
	c := waitDone(t, m, 30*time.Second)
	require.Equal(t, 2, c[taskstate.StatusDone])
	require.Equal(t, 2, c[taskstate.StatusFailed])
	poison, err := m.Get(ctx, res.IDs[0])
	require.NoError(t, err)
	require.Equal(t, 3, poison.Attempts)
	require.Equal(t, "attempt 3 of 3: always broken", poison.LastError)
	panicked, err := m.Get(ctx, res.IDs[1])
	require.NoError(t, err)
	require.Contains(t, panicked.LastError, "panic: assignment to entry in nil map")
	flaky, err := m.Get(ctx, res.IDs[2])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusDone, flaky.Status)
	require.Equal(t, 3, flaky.Attempts)
}

func TestRunnerLostLeaseCancelsAndDiscards(t *testing.T) {
	m := newManager(t, "p")
	ctx := context.Background()
	res, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "block", Def: 1}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	started := make(chan struct{}, 4)
	var calls atomic.Int32
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Concurrency: 1, Lease: taskstate.MinLease, PollInterval: time.Hour, ReapInterval: -1,
		Handlers: map[string]taskstate.HandlerFunc{"block": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			if calls.Add(1) > 1 {
				return "second run", nil
			}
			started <- struct{}{}
			<-ctx.Done() // only a lost lease ends this run
			return "first run", nil
		}},
	})
	require.NoError(t, err)
	stop := startRunner(t, r)
	<-started
	// An admin takes the task back while it runs.
	n, err := m.ResetStatus(ctx, taskstate.ByIDs(res.IDs[0]), taskstate.StatusFailed)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.Eventually(t, func() bool { return r.InFlight() == 0 }, 10*time.Second, 5*time.Millisecond)
	stop()
	task, err := m.Get(ctx, res.IDs[0])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusFailed, task.Status, "the discarded result did not overwrite the reset")
	require.Empty(t, task.Res)
}

func TestRunnerDrainsThenReturnsTheRest(t *testing.T) {
	m := newManager(t, "p")
	ctx := context.Background()
	res, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "job", Def: "quick"}, {Kind: "job", Def: "stuck"}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	var inside sync.WaitGroup
	inside.Add(2)
	release := make(chan struct{})
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Concurrency: 2, DrainTimeout: 200 * time.Millisecond, PollInterval: time.Hour,
		Handlers: map[string]taskstate.HandlerFunc{"job": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			inside.Done()
			if param == "quick" {
				<-release
				return "done", nil
			}
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}},
	})
	require.NoError(t, err)
	stop := startRunner(t, r)
	inside.Wait()
	close(release)
	stop() // SIGTERM: the quick task finishes, the stuck one is returned after the drain timeout
	quick, err := m.Get(ctx, res.IDs[0])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusDone, quick.Status)
	stuck, err := m.Get(ctx, res.IDs[1])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusWaiting, stuck.Status)
	require.Equal(t, 0, stuck.Attempts, "a shutdown is not a failed attempt")
	c, err := m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Zero(t, c[taskstate.StatusRunning])
}

func TestRunnerTwoPhase(t *testing.T) {
	m := newManager(t, "p")
	ctx := context.Background()
	_, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "train", Def: 10}, {Kind: "train", Def: 20}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	phase1, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, To: taskstate.StatusPartDone, PollInterval: 2 * time.Millisecond,
		Handlers: map[string]taskstate.HandlerFunc{"train": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			return map[string]any{"prepared": param}, nil
		}},
	})
	require.NoError(t, err)
	stop1 := startRunner(t, phase1)
	_, err = m.Wait(ctx, taskstate.WaitOptions{Terminal: []taskstate.Status{taskstate.StatusPartDone}, Timeout: 10 * time.Second, Fallback: 5 * time.Millisecond})
	require.NoError(t, err)
	stop1()
	phase2, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, From: taskstate.StatusPartDone, PollInterval: 2 * time.Millisecond,
		Handlers: map[string]taskstate.HandlerFunc{"train": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			return param.(map[string]any)["prepared"].(int) + 1, nil
		}},
	})
	require.NoError(t, err)
	startRunner(t, phase2)
	waitDone(t, m, 10*time.Second)
	var got []any
	for task, err := range m.Query(ctx, taskstate.Query{}, taskstate.QueryOptions{Payloads: true}) {
		require.NoError(t, err)
		v, err := m.DecodeRes(task)
		require.NoError(t, err)
		got = append(got, v)
	}
	require.Equal(t, []any{11, 21}, got)
}

func TestWaitTimeoutNamesStuckTasks(t *testing.T) {
	m := newManager(t, "p")
	ctx := context.Background()
	res, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "x", Def: 1}, {Kind: "x", Def: 2}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	claimed, err := m.Claim(ctx, taskstate.ClaimOptions{Owner: "host-a:42", Lease: time.Hour})
	require.NoError(t, err)
	var progress []taskstate.Counts
	out, err := m.Wait(ctx, taskstate.WaitOptions{Timeout: 50 * time.Millisecond, Fallback: 10 * time.Millisecond, Progress: func(c taskstate.Counts) { progress = append(progress, c) }})
	require.ErrorIs(t, err, taskstate.ErrWaitTimeout)
	require.Len(t, out.Stuck, 2)
	require.Equal(t, claimed[0].ID, out.Stuck[0].ID, "running tasks are listed first")
	require.Equal(t, "host-a:42", out.Stuck[0].Lease.Owner)
	require.Equal(t, res.IDs[1], out.Stuck[1].ID)
	require.Len(t, progress, 1, "progress is reported when counts change")
	// A finished pool returns at once, whatever the timeout.
	require.NoError(t, m.Commit(ctx, claimed[0], nil, ""))
	_, err = m.Remove(ctx, taskstate.ByIDs(res.IDs[1]), false)
	require.NoError(t, err)
	out, err = m.Wait(ctx, taskstate.WaitOptions{Timeout: time.Hour})
	require.NoError(t, err)
	require.Equal(t, 1, out.Counts[taskstate.StatusDone])
}

func TestWaitWakesOnEvent(t *testing.T) {
	m := newManager(t, "p")
	ctx := context.Background()
	_, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "x", Def: 1}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	wake := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		// The fallback is an hour: only the wake-up can end this wait in time.
		_, err := m.Wait(ctx, taskstate.WaitOptions{Wakeups: wake, Fallback: time.Hour, Timeout: 30 * time.Second})
		errc <- err
	}()
	tasks, err := m.Claim(ctx, taskstate.ClaimOptions{})
	require.NoError(t, err)
	require.NoError(t, m.Commit(ctx, tasks[0], nil, ""))
	wake <- struct{}{}
	require.NoError(t, <-errc)
}

// heartbeatFault wraps a real store and fails every Heartbeat while down
// is set: a store that takes claims but not lease renewals.
type heartbeatFault struct {
	taskstate.Store
	down atomic.Bool
}

func (f *heartbeatFault) Heartbeat(ctx context.Context, p taskstate.HeartbeatParams) ([]string, error) {
	if f.down.Load() {
		return nil, errors.New("heartbeat: store unreachable")
	}
	return f.Store.Heartbeat(ctx, p)
}

// When heartbeats fail for longer than the lease, the runner gives up the
// tasks it holds (another worker may have reaped them) instead of running
// them on leases it can no longer prove: the handler's context ends with a
// cause wrapping ErrLeaseLost and its result is not committed.
func TestRunnerGivesUpLeasesItCannotRenew(t *testing.T) {
	fault := &heartbeatFault{Store: openSQLite(t)}
	m, err := taskstate.NewManager(taskstate.Config{Store: fault, Pool: "p"})
	require.NoError(t, err)
	ctx := context.Background()
	res, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "block", Def: 1}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	started, ended := make(chan struct{}, 4), make(chan error, 4)
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Concurrency: 1, Lease: taskstate.MinLease, PollInterval: time.Hour, ReapInterval: -1,
		Handlers: map[string]taskstate.HandlerFunc{"block": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			ended <- context.Cause(ctx)
			return "too late", nil
		}},
	})
	require.NoError(t, err)
	stop := startRunner(t, r)
	<-started
	fault.down.Store(true)
	select {
	case cause := <-ended:
		require.ErrorIs(t, cause, taskstate.ErrLeaseLost)
	case <-time.After(30 * time.Second):
		t.Fatal("the handler was not cancelled after its lease could not be renewed")
	}
	require.Eventually(t, func() bool { return r.InFlight() == 0 }, 10*time.Second, 5*time.Millisecond)
	stop()
	task, err := m.Get(ctx, res.IDs[0])
	require.NoError(t, err)
	require.Equal(t, taskstate.StatusRunning, task.Status, "nothing was committed on an unrenewed lease")
	require.Empty(t, task.Res)
}
