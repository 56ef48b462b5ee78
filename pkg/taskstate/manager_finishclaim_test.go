package taskstate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// plainStore hides the FinishClaimer of the store it wraps, as a backend
// without one (MongoDB) is seen.
type plainStore struct{ taskstate.Store }

// failingFinishClaim is the real store whose FinishAndClaim fails before
// it writes anything, as a lost connection would.
type failingFinishClaim struct{ *sqlitestore.Store }

var errInjected = errors.New("injected: connection lost")

func (failingFinishClaim) FinishAndClaim(context.Context, taskstate.FinishAndClaimParams) (taskstate.FinishAndClaimResult, error) {
	return taskstate.FinishAndClaimResult{}, errInjected
}

// countingStore counts the FinishAndClaim calls of the real store and the
// tasks they claimed.
type countingStore struct {
	*sqlitestore.Store
	calls, claimed atomic.Int64
}

func (s *countingStore) FinishAndClaim(ctx context.Context, p taskstate.FinishAndClaimParams) (taskstate.FinishAndClaimResult, error) {
	res, err := s.Store.FinishAndClaim(ctx, p)
	s.calls.Add(1)
	s.claimed.Add(int64(len(res.Claimed)))
	return res, err
}

// managerOn returns a Manager of pool "p" on s that records the store
// operations it observes.
func managerOn(t *testing.T, s taskstate.Store) (*taskstate.Manager, *opLog) {
	t.Helper()
	ops := &opLog{}
	m, err := taskstate.NewManager(taskstate.Config{Store: s, Pool: "p", Observe: ops.observe})
	require.NoError(t, err)
	return m, ops
}

type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) observe(op string, _ time.Duration, _ error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

func (l *opLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ops
	l.ops = nil
	return out
}

// TestCommitManyAndClaim: the commits apply and the claim takes the next
// tasks, in one store call on a FinishClaimer and in a commit then a
// claim on a store without one.
func TestCommitManyAndClaim(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(*sqlitestore.Store) taskstate.Store
		ops   []string
	}{
		{"FinishClaimer", func(s *sqlitestore.Store) taskstate.Store { return s }, []string{"commit_claim"}},
		{"PlainStore", func(s *sqlitestore.Store) taskstate.Store { return plainStore{s} }, []string{"commit", "claim"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			m, ops := managerOn(t, tc.store(openSQLite(t)))
			res, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "k", Def: 0}, {Kind: "k", Def: 1}, {Kind: "k", Def: 2}, {Kind: "k", Def: 3}, {Kind: "k", Def: 4}}, taskstate.CreateOptions{})
			require.NoError(t, err)
			held, err := m.Claim(ctx, taskstate.ClaimOptions{Owner: "w", Limit: 2})
			require.NoError(t, err)
			require.Len(t, held, 2)
			stale := *held[1]
			stale.Lease.Token = "not-the-token"
			ops.take()
			errs, claimed, claimErr := m.CommitManyAndClaim(ctx,
				[]taskstate.CommitItem{{Task: held[0], Res: "a"}, {Task: &stale, Res: "b"}},
				taskstate.ClaimOptions{Owner: "w", Limit: 2})
			require.NoError(t, claimErr)
			require.NoError(t, errs[0])
			require.ErrorIs(t, errs[1], taskstate.ErrLeaseLost)
			require.Len(t, claimed, 2)
			require.Equal(t, []string{res.IDs[2], res.IDs[3]}, []string{claimed[0].ID, claimed[1].ID}, "the claim takes the next tasks in order")
			require.Equal(t, tc.ops, ops.take())
			c, err := m.Stat(ctx, taskstate.Query{})
			require.NoError(t, err)
			require.Equal(t, 1, c[taskstate.StatusDone])
			require.Equal(t, 3, c[taskstate.StatusRunning])
			require.Equal(t, 1, c[taskstate.StatusWaiting])
			got, err := m.Get(ctx, res.IDs[0])
			require.NoError(t, err)
			require.Equal(t, taskstate.StatusDone, got.Status)
		})
	}
}

// TestCommitManyAndClaimFallsBack: when the one store call fails, the
// results are committed alone and the error is the claim's.
func TestCommitManyAndClaimFallsBack(t *testing.T) {
	ctx := t.Context()
	m, ops := managerOn(t, failingFinishClaim{openSQLite(t)})
	_, err := m.Create(ctx, []taskstate.TaskSpec{{Kind: "k", Def: 0}, {Kind: "k", Def: 1}, {Kind: "k", Def: 2}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	held, err := m.Claim(ctx, taskstate.ClaimOptions{Owner: "w", Limit: 2})
	require.NoError(t, err)
	ops.take()
	errs, claimed, claimErr := m.CommitManyAndClaim(ctx,
		[]taskstate.CommitItem{{Task: held[0], Res: "a"}, {Task: held[1], Res: "b"}},
		taskstate.ClaimOptions{Owner: "w", Limit: 2})
	require.ErrorIs(t, claimErr, errInjected)
	require.Empty(t, claimed)
	require.Equal(t, []error{nil, nil}, errs, "the results are committed without the claim")
	require.Equal(t, []string{"commit_claim", "commit"}, ops.take())
	c, err := m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Equal(t, 2, c[taskstate.StatusDone])
	require.Equal(t, 1, c[taskstate.StatusWaiting])
}

// TestRunnerClaimsWithItsCommits: a worker's completer claims the slots
// its commits free in the same store call; no more tasks ever run at once
// than the concurrency, each task runs once, and after Run returns
// nothing is left running.
func TestRunnerClaimsWithItsCommits(t *testing.T) {
	s := &countingStore{Store: openSQLite(t)}
	m, _ := managerOn(t, s)
	const n, conc = 400, 3
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		specs[i] = taskstate.TaskSpec{Kind: "k", Def: i}
	}
	_, err := m.Create(t.Context(), specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	var running, most atomic.Int64
	var mu sync.Mutex
	runs := map[int]int{}
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Concurrency: conc, PollInterval: 5 * time.Millisecond, ReapInterval: -1,
		Handlers: map[string]taskstate.HandlerFunc{"k": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			now := running.Add(1)
			defer running.Add(-1)
			for {
				m := most.Load()
				if now <= m || most.CompareAndSwap(m, now) {
					break
				}
			}
			mu.Lock()
			runs[param.(int)]++
			mu.Unlock()
			return nil, nil
		}},
	})
	require.NoError(t, err)
	stop := startRunner(t, r)
	c := waitDone(t, m, 30*time.Second)
	stop()
	require.Equal(t, n, c[taskstate.StatusDone])
	require.LessOrEqual(t, most.Load(), int64(conc), "never more tasks at once than the concurrency")
	mu.Lock()
	require.Len(t, runs, n)
	for i, k := range runs {
		require.Equal(t, 1, k, "task %d ran %d times", i, k)
	}
	mu.Unlock()
	t.Logf("%d FinishAndClaim calls claimed %d of %d tasks", s.calls.Load(), s.claimed.Load(), n)
	require.Positive(t, s.claimed.Load(), "the completer claims with its commits")
	after, err := m.Stat(t.Context(), taskstate.Query{})
	require.NoError(t, err)
	require.Zero(t, after[taskstate.StatusRunning])
}

// TestRunnerStopsClaimingWithCommits: a runner stopped while its tasks
// run claims nothing more, with its commits or otherwise: what it claimed
// is done or back in waiting, nothing is left running, and the tasks it
// never claimed are still waiting with no attempt.
func TestRunnerStopsClaimingWithCommits(t *testing.T) {
	s := &countingStore{Store: openSQLite(t)}
	m, _ := managerOn(t, s)
	const n = 50
	specs := make([]taskstate.TaskSpec, n)
	for i := range specs {
		specs[i] = taskstate.TaskSpec{Kind: "k", Def: i}
	}
	_, err := m.Create(t.Context(), specs, taskstate.CreateOptions{})
	require.NoError(t, err)
	started := make(chan struct{}, n)
	release := make(chan struct{})
	// Run logs "draining" once it has stopped claiming.
	draining := make(chan struct{})
	var once sync.Once
	core := zapcore.RegisterHooks(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel), func(e zapcore.Entry) error {
		if e.Message == "draining" {
			once.Do(func() { close(draining) })
		}
		return nil
	})
	r, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: m, Concurrency: 4, Logger: zap.New(core), PollInterval: 5 * time.Millisecond, ReapInterval: -1, DrainTimeout: 10 * time.Second,
		Handlers: map[string]taskstate.HandlerFunc{"k": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
			started <- struct{}{}
			<-release
			return nil, nil
		}},
	})
	require.NoError(t, err)
	stop := startRunner(t, r)
	for range 4 {
		<-started
	}
	stopped := make(chan struct{})
	go func() { defer close(stopped); stop() }()
	// The drain waits for the four handlers, whose commits then find the
	// runner stopping.
	<-draining
	close(release)
	<-stopped
	c, err := m.Stat(t.Context(), taskstate.Query{})
	require.NoError(t, err)
	require.Zero(t, c[taskstate.StatusRunning])
	require.Equal(t, n, c[taskstate.StatusDone]+c[taskstate.StatusWaiting])
	require.Zero(t, s.claimed.Load(), "no claim rides on the commits of a stopping runner")
	require.Equal(t, 4, c[taskstate.StatusDone])
}

// batchStore is the real store reporting itself shared (or not) with
// other writers, and recording the size of each batch of commits.
type batchStore struct {
	*sqlitestore.Store
	shared  bool
	batches chan int
}

func (s *batchStore) Shared() bool { return s.shared }

func (s *batchStore) Finish(ctx context.Context, p taskstate.FinishParams) ([]bool, error) {
	s.batches <- len(p.Items)
	return s.Store.Finish(ctx, p)
}

func (s *batchStore) FinishAndClaim(ctx context.Context, p taskstate.FinishAndClaimParams) (taskstate.FinishAndClaimResult, error) {
	s.batches <- len(p.Finish.Items)
	return s.Store.FinishAndClaim(ctx, p)
}

// TestRunnerLingersWhenShared: on a store other processes write to, or on
// one CPU (GOMAXPROCS 1), the completer waits for the worker's running
// tasks and commits them in one batch; alone on several CPUs, it commits
// each result as it comes.
func TestRunnerLingersWhenShared(t *testing.T) {
	for _, c := range []struct{ shared, oneCPU bool }{{false, false}, {true, false}, {false, true}} {
		t.Run(fmt.Sprintf("shared=%v/one-cpu=%v", c.shared, c.oneCPU), func(t *testing.T) {
			if c.oneCPU {
				prev := runtime.GOMAXPROCS(1)
				t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
			} else if runtime.GOMAXPROCS(0) == 1 {
				t.Skip("this machine runs Go on one CPU, where the completer always waits")
			}
			shared := c.shared || c.oneCPU // the completer waits either way
			s := &batchStore{Store: openSQLite(t), shared: c.shared, batches: make(chan int, 16)}
			m, _ := managerOn(t, s)
			const n = 4
			specs := make([]taskstate.TaskSpec, n)
			release := make([]chan struct{}, n)
			for i := range specs {
				specs[i] = taskstate.TaskSpec{Kind: "k", Def: i}
				release[i] = make(chan struct{})
			}
			_, err := m.Create(t.Context(), specs, taskstate.CreateOptions{})
			require.NoError(t, err)
			started := make(chan struct{}, n)
			r, err := taskstate.NewRunner(taskstate.RunnerConfig{
				Manager: m, Concurrency: n, PollInterval: time.Hour, ReapInterval: -1, CommitLinger: time.Hour,
				Handlers: map[string]taskstate.HandlerFunc{"k": func(ctx context.Context, task *taskstate.Task, param any) (any, error) {
					started <- struct{}{}
					<-release[param.(int)]
					return nil, nil
				}},
			})
			require.NoError(t, err)
			startRunner(t, r)
			for range n {
				<-started
			}
			close(release[0])
			if !shared {
				// Alone, the first result is committed while the others
				// still run (with the hour's linger, this would hang).
				require.Equal(t, 1, <-s.batches)
			}
			for _, c := range release[1:] {
				close(c)
			}
			if shared {
				require.Equal(t, n, <-s.batches, "one batch for the four tasks")
			}
			waitDone(t, m, 30*time.Second)
		})
	}
}
