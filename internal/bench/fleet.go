package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Def is the def of every benchmark task: small, and unique per task so
// that no Create is a duplicate.
type Def struct {
	Run string `json:"run"` // the Run that created it
	Seq int    `json:"seq"` // its number within the scenario
	// CreatedNs is the wall clock just before Create, in Unix nanoseconds
	// (pickup only).
	CreatedNs int64 `json:"created_ns,omitempty"`
}

func init() {
	if err := taskstate.RegisterType(Def{}); err != nil {
		panic(err) // another type holds the name: defs would not decode
	}
}

// fleet is Workers in-process Runners on one pool, sharing the store and
// the worker-side event connection, as the runners of one process would.
type fleet struct {
	sink    *sink
	cancel  context.CancelFunc
	wg      conc.WaitGroup
	wakeups []*events.WorkWakeup
}

// startFleet starts the runners on pool with handlers hs. Their Manager
// publishes through n (nil: nothing). When it returns, every runner's
// wake-up subscription is live.
func (b *bench) startFleet(ctx context.Context, pool string, n taskstate.Notifier, hs map[string]taskstate.HandlerFunc) (*fleet, error) {
	m, err := b.manager(pool, n)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	f := &fleet{sink: newSink(), cancel: cancel}
	runners := make([]*taskstate.Runner, b.cfg.Workers)
	for i := range runners {
		var wake <-chan struct{}
		var live func() bool
		if b.workConn != nil {
			// As the worker binary: each wake-up goes to one idle runner.
			w, err := b.workConn.WorkWakeups(fctx, pool, slices.Collect(maps.Keys(hs))...)
			if err != nil {
				cancel()
				return nil, err
			}
			f.wakeups = append(f.wakeups, w)
			wake, live = w.C(), w.Live
		}
		runners[i], err = taskstate.NewRunner(taskstate.RunnerConfig{
			Manager: m, Handlers: hs, Concurrency: b.cfg.Concurrency,
			Owner: fmt.Sprintf("bench-%s-w%d", b.run, i), PollInterval: b.cfg.PollInterval,
			Wakeups: wake, WakeupsLive: live, DrainTimeout: time.Second, Logger: b.log, Metrics: f.sink,
		})
		if err != nil {
			cancel()
			return nil, err
		}
	}
	for _, r := range runners {
		f.wg.Go(func() { _ = r.Run(fctx) })
	}
	return f, nil
}

// stop stops the runners and waits for them.
func (f *fleet) stop() {
	f.cancel()
	f.wg.Wait()
	for _, w := range f.wakeups {
		_ = w.Close()
	}
}

// waitFinished blocks until the fleet has finished (committed or failed)
// n tasks, calling tick every interval meanwhile.
func (f *fleet) waitFinished(ctx context.Context, n int64, every time.Duration, tick func()) error {
	var t <-chan time.Time
	if tick != nil {
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		t = ticker.C
	}
	for f.sink.finished() < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.sink.changed:
		case <-t:
			tick()
		}
	}
	return nil
}

// sink is the fleet's taskstate.RunnerMetrics: it counts what the runners
// do and signals every change of the finished count.
type sink struct {
	claims, claimed    atomic.Int64 // non-empty claims, and the tasks they took
	commits, committed atomic.Int64 // commit round trips, and the tasks they committed
	failed, retried    atomic.Int64
	changed            chan struct{} // capacity 1
}

func newSink() *sink { return &sink{changed: make(chan struct{}, 1)} }

func (s *sink) finished() int64 { return s.committed.Load() + s.failed.Load() }

func (s *sink) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *sink) Claimed(n int) {
	if n > 0 { // an empty claim is a poll that found nothing
		s.claims.Add(1)
		s.claimed.Add(int64(n))
	}
}

func (s *sink) Committed(n int) {
	s.commits.Add(1)
	s.committed.Add(int64(n))
	s.signal()
}

func (s *sink) Failed(n int) {
	s.failed.Add(int64(n))
	s.signal()
}

func (s *sink) Retried(n int)                                { s.retried.Add(int64(n)) }
func (s *sink) Released(int)                                 {}
func (s *sink) Reaped(int, int)                              {}
func (s *sink) LeaseLost(int)                                {}
func (s *sink) Ran(string, time.Duration, taskstate.Outcome) {}
func (s *sink) Pickup(time.Duration)                         {}
func (s *sink) InFlight(int)                                 {}

var _ taskstate.RunnerMetrics = (*sink)(nil)

// stampNotifier is a taskstate.Notifier that records the time of each
// committed notification, which the Manager sends right after the store
// commit returned, then passes it on.
type stampNotifier struct {
	next      taskstate.Notifier // nil: none
	committed chan time.Time     // capacity 1; the oldest unread stamp is kept
}

func (s *stampNotifier) Notify(ctx context.Context, pool string, ev taskstate.Event, n int) {
	if ev == taskstate.EventCommitted {
		select {
		case s.committed <- time.Now():
		default:
		}
	}
	if s.next != nil {
		s.next.Notify(ctx, pool, ev, n)
	}
}
