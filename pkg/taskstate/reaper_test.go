package taskstate_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// reapCounts records what a Reaper reports, and signals each report.
type reapCounts struct {
	mu               sync.Mutex
	requeued, failed int
	passes           int
	reported         chan struct{}
}

func newReapCounts() *reapCounts { return &reapCounts{reported: make(chan struct{}, 64)} }

func (c *reapCounts) Reaped(requeued, failed int) {
	c.mu.Lock()
	c.requeued += requeued
	c.failed += failed
	c.passes++
	c.mu.Unlock()
	select {
	case c.reported <- struct{}{}:
	default:
	}
}

func (c *reapCounts) get() (requeued, failed, passes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requeued, c.failed, c.passes
}

type reaperBundle struct {
	clock *taskstate.ManualClock
	store taskstate.Store
}

func setupReaper(t *testing.T) *reaperBundle {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "tasks.db")})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return &reaperBundle{clock: &taskstate.ManualClock{Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}, store: s}
}

// claimExpiring creates a task with one attempt and one with three in pool
// and claims both with a one-minute lease, by the bundle's clock.
func (b *reaperBundle) claimExpiring(t *testing.T, pool string) *taskstate.Manager {
	t.Helper()
	ctx := context.Background()
	m, err := taskstate.NewManager(taskstate.Config{Store: b.store, Pool: pool, Now: b.clock.Now})
	require.NoError(t, err)
	_, err = m.Create(ctx, []taskstate.TaskSpec{{Kind: "k", Def: 1, MaxAttempts: 1}, {Kind: "k", Def: 2, MaxAttempts: 3}}, taskstate.CreateOptions{})
	require.NoError(t, err)
	claimed, err := m.Claim(ctx, taskstate.ClaimOptions{Owner: "crashed", Lease: time.Minute, Limit: 2})
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	return m
}

func TestReaperValidatesConfig(t *testing.T) {
	t.Parallel()
	b := setupReaper(t)
	m, err := taskstate.NewManager(taskstate.Config{Store: b.store, Pool: "p"})
	require.NoError(t, err)
	_, err = taskstate.NewReaper(taskstate.ReaperConfig{})
	require.Error(t, err, "neither Manager nor Store")
	_, err = taskstate.NewReaper(taskstate.ReaperConfig{Manager: m, Store: b.store})
	require.Error(t, err, "both Manager and Store")
}

// The reaper judges expiry by its injected clock: nothing is taken back
// until the lease plus the grace has passed on that clock.
func TestReaperReapsByTheInjectedClock(t *testing.T) {
	t.Parallel()
	b := setupReaper(t)
	ctx := context.Background()
	m := b.claimExpiring(t, "p")
	met := newReapCounts()
	r, err := taskstate.NewReaper(taskstate.ReaperConfig{Manager: m, Grace: 5 * time.Second, NowFunc: b.clock.Now, Metrics: met})
	require.NoError(t, err)

	b.clock.Advance(time.Minute + 5*time.Second) // at expiry + grace: still left alone
	rr, err := r.Reap(ctx)
	require.NoError(t, err)
	require.Equal(t, taskstate.ReapResult{}, rr)

	b.clock.Advance(time.Millisecond)
	rr, err = r.Reap(ctx)
	require.NoError(t, err)
	require.Equal(t, taskstate.ReapResult{Requeued: 1, Failed: 1}, rr)
	c, err := m.Stat(ctx, taskstate.Query{})
	require.NoError(t, err)
	require.Equal(t, 1, c[taskstate.StatusWaiting])
	require.Equal(t, 1, c[taskstate.StatusFailed])
	requeued, failed, passes := met.get()
	require.Equal(t, []int{1, 1, 2}, []int{requeued, failed, passes})
}

// Over a Store the reaper reaps every pool, each through its own Manager
// on the injected clock.
func TestReaperOverAStoreReapsEveryPool(t *testing.T) {
	t.Parallel()
	b := setupReaper(t)
	ctx := context.Background()
	ma, mb := b.claimExpiring(t, "pool_a"), b.claimExpiring(t, "pool_b")
	r, err := taskstate.NewReaper(taskstate.ReaperConfig{Store: b.store, Grace: -1, NowFunc: b.clock.Now})
	require.NoError(t, err)
	rr, err := r.Reap(ctx)
	require.NoError(t, err)
	require.Equal(t, taskstate.ReapResult{}, rr, "no lease has ended yet")

	b.clock.Advance(time.Minute + time.Millisecond) // no grace: just past the lease
	rr, err = r.Reap(ctx)
	require.NoError(t, err)
	require.Equal(t, taskstate.ReapResult{Requeued: 2, Failed: 2}, rr)
	for _, m := range []*taskstate.Manager{ma, mb} {
		c, err := m.Stat(ctx, taskstate.Query{})
		require.NoError(t, err)
		require.Zero(t, c[taskstate.StatusRunning], m.Pool())
	}
}

// Run makes a pass every Interval until its context ends.
func TestReaperRunReapsEachInterval(t *testing.T) {
	t.Parallel()
	b := setupReaper(t)
	m := b.claimExpiring(t, "p")
	b.clock.Advance(time.Hour)
	met := newReapCounts()
	r, err := taskstate.NewReaper(taskstate.ReaperConfig{Manager: m, Interval: time.Millisecond, NowFunc: b.clock.Now, Metrics: met})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for {
		select {
		case <-met.reported:
		case <-time.After(30 * time.Second):
			t.Fatal("the reaper made no pass")
		}
		if requeued, failed, _ := met.get(); requeued == 1 && failed == 1 {
			break
		}
	}
	cancel()
	require.NoError(t, <-done)
}
