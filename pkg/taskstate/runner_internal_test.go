package taskstate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// ManualClock is a clock a test moves by hand. It is exported to this
// package's external tests (reaper_test.go) too.
type ManualClock struct {
	mu   sync.Mutex
	Time time.Time
}

func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Time
}

func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Time = c.Time.Add(d)
}

// A runner claims nothing while the leases it holds have gone unrenewed
// for half a lease; with no lease held it always may. Its clock is the
// injected one.
func TestRunnerLeasesStale(t *testing.T) {
	clock := &ManualClock{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r, err := NewRunner(RunnerConfig{Manager: &Manager{}, Lease: time.Minute, NowFunc: clock.Now,
		Handlers: map[string]HandlerFunc{"noop": func(_ context.Context, _ *Task, p any) (any, error) { return p, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	r.hb.markRenewed()
	clock.Advance(time.Hour)
	if r.hb.stale() {
		t.Fatal("stale with no lease held")
	}
	r.held.add(&running{task: &Task{ID: "t1"}, cancel: func(error) {}})
	if !r.hb.stale() {
		t.Fatal("not stale an hour after the last renewal of a held lease")
	}
	r.hb.markRenewed()
	clock.Advance(20 * time.Second)
	if r.hb.stale() {
		t.Fatal("stale 20 s into a one-minute lease")
	}
	clock.Advance(20 * time.Second)
	if !r.hb.stale() {
		t.Fatal("not stale 40 s into a one-minute lease (past half)")
	}
}

// After a whole lease without renewal the heartbeat cancels every held
// run with a cause wrapping ErrLeaseLost; before that it cancels nothing.
func TestHeartbeatExpireStaleByClock(t *testing.T) {
	clock := &ManualClock{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := newHeld()
	hb := &heartbeat{held: h, lease: time.Minute, now: clock.Now, log: zap.NewNop()}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	h.add(&running{task: &Task{ID: "t1"}, cancel: cancel})
	hb.markRenewed()
	clock.Advance(time.Minute)
	hb.expireStale()
	if ctx.Err() != nil {
		t.Fatal("cancelled exactly one lease into the lease")
	}
	clock.Advance(time.Second)
	hb.expireStale()
	if cause := context.Cause(ctx); !errors.Is(cause, errLeaseExpired) {
		t.Fatalf("cause %v, want errLeaseExpired", cause)
	}
}
