package taskstate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/pool"
	"go.uber.org/zap"
)

// RunnerMetrics receives what a Runner does. A nil RunnerMetrics in the
// config records nothing. internal/metrics implements it with Prometheus.
type RunnerMetrics interface {
	Claimed(n int)
	Committed(n int)
	Retried(n int)
	Failed(n int)
	Released(n int)
	Reaped(requeued, failed int)
	LeaseLost(n int)
	// Ran observes a handler run: its kind, duration and outcome
	// ("ok", "error", "panic", "lease_lost", "cancelled").
	Ran(kind string, d time.Duration, outcome string)
	// Pickup observes handler start − max(created_at, run_after).
	Pickup(d time.Duration)
	InFlight(n int)
}

// RunnerConfig configures a Runner: Qlib's run_task as a long-lived worker.
type RunnerConfig struct {
	// Manager is the pool to work on. Required.
	Manager *Manager
	// Handlers maps a kind to its handler; the runner claims only these
	// kinds. Required, at least one.
	Handlers map[string]HandlerFunc
	// Concurrency is the number of tasks run at once (the goroutine pool).
	// Default 4.
	Concurrency int
	// From is the status claimed from: StatusWaiting (default) or
	// StatusPartDone (phase two, the handler receives phase one's result).
	From Status
	// To is the status a successful run commits to: StatusDone (default)
	// or StatusPartDone (phase one).
	To Status
	// Query restricts the tasks claimed. Default: any.
	Query Query
	// Owner names this worker in leases. Default: hostname:pid.
	Owner string
	// Lease is the lease length; one heartbeat per process renews every
	// held lease each Lease/3. Default 30 s.
	Lease time.Duration
	// PollInterval is the fallback poll when no event arrives, jittered
	// ±20 %. Default 2 s.
	PollInterval time.Duration
	// Wakeups, when set, delivers event hints (tasks created or available);
	// each makes the runner claim at once.
	Wakeups <-chan struct{}
	// DrainTimeout is how long a stopping runner lets in-flight tasks finish
	// before it cancels them and returns them to the pool. Default 10 s.
	DrainTimeout time.Duration
	// ReapInterval is how often the runner's reaper looks for expired
	// leases. Default 5 s; negative disables the reaper.
	ReapInterval time.Duration
	// ReapGrace is how long past its expiry a lease is left alone (clock
	// skew between hosts). Default 2 s.
	ReapGrace time.Duration
	// CommitBatch caps the results committed in one store round trip.
	// Default 256.
	CommitBatch int
	// Logger logs task failures and lifecycle. Default: zap.NewNop().
	Logger *zap.Logger
	// Metrics records what happens. Default: nothing.
	Metrics RunnerMetrics
}

// Runner claims tasks as slots free up and runs them with their handler.
type Runner struct {
	cfg     RunnerConfig
	m       *Manager
	log     *zap.Logger
	met     RunnerMetrics
	kinds   []string
	results chan result

	mu       sync.Mutex
	inflight map[string]*running
	count    atomic.Int64
	freed    chan struct{}
	// renewed is when the held leases were last known good (UnixNano):
	// the last heartbeat that reached the store, or a moment when none
	// were held. While it is older than Lease/2 the runner claims nothing
	// (it could not keep new leases either); once it is older than Lease,
	// every lease it holds may have been reaped, so it gives them up.
	renewed atomic.Int64
}

type running struct {
	task   *Task
	cancel context.CancelCauseFunc
}

// result is a finished run on its way to the completer. The task stays in
// inflight (and so keeps its lease renewed) until the completer has
// committed it; its slot is free as soon as the handler returned.
type result struct {
	run *running
	res any
}

var errLeaseLost = fmt.Errorf("%w: heartbeat found the lease gone", ErrLeaseLost)
var errLeaseExpired = fmt.Errorf("%w: heartbeats failed for longer than the lease", ErrLeaseLost)
var errDraining = errors.New("taskstate: worker stopping: drain timeout reached")

// NewRunner validates cfg and returns a Runner.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if cfg.Manager == nil {
		return nil, errors.New("taskstate: RunnerConfig.Manager is required")
	}
	if len(cfg.Handlers) == 0 {
		return nil, errors.New("taskstate: RunnerConfig.Handlers is empty: a worker needs at least one kind")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.From == "" {
		cfg.From = StatusWaiting
	}
	if !cfg.From.Claimable() {
		return nil, fmt.Errorf("%w: from-status %q (want waiting or part_done)", ErrInvalidStatus, cfg.From)
	}
	if cfg.To == "" {
		cfg.To = StatusDone
	}
	if cfg.To != StatusDone && cfg.To != StatusPartDone {
		return nil, fmt.Errorf("%w: to-status %q (want done or part_done)", ErrInvalidStatus, cfg.To)
	}
	if err := cfg.Query.Validate(); err != nil {
		return nil, err
	}
	if cfg.Owner == "" {
		cfg.Owner = DefaultOwner()
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = 5 * time.Second
	}
	if cfg.ReapGrace <= 0 {
		cfg.ReapGrace = 2 * time.Second
	}
	if cfg.CommitBatch <= 0 {
		cfg.CommitBatch = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	kinds := make([]string, 0, len(cfg.Handlers))
	for k := range cfg.Handlers {
		kinds = append(kinds, k)
	}
	return &Runner{
		cfg: cfg, m: cfg.Manager, log: cfg.Logger, met: cfg.Metrics, kinds: kinds,
		results:  make(chan result, cfg.Concurrency),
		inflight: make(map[string]*running),
		freed:    make(chan struct{}, 1),
	}, nil
}

// InFlight returns the number of tasks running now.
func (r *Runner) InFlight() int { return int(r.count.Load()) }

// Run works until ctx is done, then stops claiming, lets in-flight tasks
// finish for up to DrainTimeout, cancels the rest and returns them to the
// pool, and returns. It returns ctx's error only if it cannot even start.
func (r *Runner) Run(ctx context.Context) error {
	// hard is cancelled after the drain timeout: it ends the handlers.
	hard, cancelHard := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelHard(nil)
	// bg outlives ctx for the writes that return tasks during shutdown.
	bg := context.WithoutCancel(ctx)

	r.renewed.Store(time.Now().UnixNano())
	var side conc.WaitGroup // heartbeat, reaper, completer: owned here
	sideCtx, stopSide := context.WithCancel(bg)
	side.Go(func() { r.heartbeat(sideCtx) })
	if r.cfg.ReapInterval > 0 {
		side.Go(func() { r.reaper(sideCtx) })
	}
	completerDone := make(chan struct{})
	go func() { defer close(completerDone); r.completer(bg) }()

	tasks := pool.New().WithMaxGoroutines(r.cfg.Concurrency)
	r.claimLoop(ctx, hard, tasks)

	// Drain: let in-flight tasks finish, then cancel what is left.
	drained := make(chan struct{})
	go func() { defer close(drained); tasks.Wait() }()
	if r.InFlight() > 0 {
		r.log.Info("draining", zap.Int("in_flight", r.InFlight()), zap.Duration("timeout", r.cfg.DrainTimeout))
	}
	select {
	case <-drained:
	case <-time.After(r.cfg.DrainTimeout):
		r.log.Warn("drain timeout reached; cancelling in-flight tasks", zap.Int("in_flight", r.InFlight()))
		cancelHard(errDraining)
		<-drained
	}
	close(r.results)
	<-completerDone
	stopSide()
	side.Wait()
	return nil
}

func (r *Runner) claimLoop(ctx, hard context.Context, tasks *pool.Pool) {
	poll := time.NewTimer(r.jitter())
	defer poll.Stop()
	pending := true // there may be claimable tasks
	for ctx.Err() == nil {
		free := r.cfg.Concurrency - r.InFlight()
		if pending && free > 0 && !r.leasesStale() {
			claimed, err := r.m.Claim(ctx, ClaimOptions{
				From: r.cfg.From, Kinds: r.kinds, Query: r.cfg.Query, Owner: r.cfg.Owner,
				Lease: r.cfg.Lease, Limit: free,
			})
			// A backend may return the tasks it did claim along with an
			// error: run them rather than leave them to the reaper.
			r.met.Claimed(len(claimed))
			for _, t := range claimed {
				r.start(hard, tasks, t)
			}
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("claim failed", zap.Error(err))
				}
				pending = false
			} else if pending = len(claimed) == free; pending {
				continue
			}
		}
		select {
		case <-ctx.Done():
		case <-r.cfg.Wakeups:
			pending = true
		case <-r.freed:
		case <-poll.C:
			pending = true
			poll.Reset(r.jitter())
		}
	}
}

func (r *Runner) jitter() time.Duration {
	d := r.cfg.PollInterval
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (r *Runner) start(hard context.Context, tasks *pool.Pool, t *Task) {
	tctx, cancel := context.WithCancelCause(hard)
	run := &running{task: t, cancel: cancel}
	r.mu.Lock()
	r.inflight[t.ID] = run
	r.mu.Unlock()
	r.met.InFlight(int(r.count.Add(1)))
	tasks.Go(func() {
		defer func() {
			r.met.InFlight(int(r.count.Add(-1)))
			select {
			case r.freed <- struct{}{}:
			default:
			}
		}()
		if !r.runTask(tctx, run) {
			r.done(run)
		}
	})
}

// done forgets a task: it is committed, returned or failed.
func (r *Runner) done(run *running) {
	run.cancel(nil)
	r.mu.Lock()
	delete(r.inflight, run.task.ID)
	r.mu.Unlock()
}

// runTask runs one task and reports whether it handed it to the
// completer (which then owns it).
func (r *Runner) runTask(ctx context.Context, run *running) (queued bool) {
	t := run.task
	// Only the paths that write about a failure need these; building them
	// costs more than running a no-op task.
	bg := func() context.Context { return context.WithoutCancel(ctx) }
	log := func() *zap.Logger {
		return r.log.With(zap.String("task", t.ID), zap.String("kind", t.Kind), zap.Int("attempt", t.Attempts))
	}
	handler, ok := r.cfg.Handlers[t.Kind]
	if !ok { // cannot happen: claims are restricted to our kinds
		r.fail(bg(), log(), t, fmt.Errorf("no handler for kind %q", t.Kind))
		return false
	}
	param, err := r.m.Param(t)
	if err != nil {
		r.fail(bg(), log(), t, err)
		return false
	}
	start := time.Now()
	ready := t.CreatedAt
	if t.RunAfter.After(ready) {
		ready = t.RunAfter
	}
	if !ready.IsZero() {
		r.met.Pickup(r.m.cfg.Now().Sub(ready))
	}
	res, err := Call(func() (any, error) { return handler(ctx, t, param) })
	elapsed := time.Since(start)
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errLeaseLost) || errors.Is(cause, errLeaseExpired):
		r.met.Ran(t.Kind, elapsed, "lease_lost")
		r.met.LeaseLost(1)
		log().Warn("lease lost; result discarded")
	case err == nil:
		r.met.Ran(t.Kind, elapsed, "ok")
		// Encode here, in parallel with the other slots; a result that
		// does not encode goes as it is and CommitMany fails the task.
		if b, eerr := r.m.Codec().Encode(res); eerr == nil {
			res = Encoded(b)
		}
		r.results <- result{run: run, res: res}
		return true
	case errors.Is(cause, errDraining):
		r.met.Ran(t.Kind, elapsed, "cancelled")
		if rerr := r.m.Release(bg(), t); rerr != nil {
			log().Warn("release failed", zap.Error(rerr))
		} else {
			r.met.Released(1)
			log().Info("returned to the pool on shutdown")
		}
	case errors.Is(err, ErrDecode):
		r.met.Ran(t.Kind, elapsed, "error")
		r.fail(bg(), log(), t, err)
	default:
		outcome := "error"
		log := log()
		if errors.Is(err, ErrPanic) {
			outcome = "panic"
			var pe *PanicError
			if errors.As(err, &pe) {
				log = log.With(zap.ByteString("stack", pe.Stack))
			}
		}
		r.met.Ran(t.Kind, elapsed, outcome)
		to, rerr := r.m.Return(bg(), t, err)
		switch {
		case errors.Is(rerr, ErrLeaseLost):
			r.met.LeaseLost(1)
		case rerr != nil:
			log.Warn("return failed", zap.Error(rerr))
		case to == StatusFailed:
			r.met.Failed(1)
			log.Warn("task failed; no attempts left", zap.Error(err))
		default:
			r.met.Retried(1)
			log.Info("task will be retried", zap.Error(err))
		}
	}
	return false
}

func (r *Runner) fail(ctx context.Context, log *zap.Logger, t *Task, err error) {
	if ferr := r.m.Fail(ctx, t, err); ferr != nil {
		log.Warn("fail failed", zap.Error(ferr))
		return
	}
	r.met.Failed(1)
	log.Warn("task failed", zap.Error(err))
}

// completer commits results in batches (River's batch completer): it takes
// what is queued, commits it in one round trip, acknowledges, repeats.
func (r *Runner) completer(ctx context.Context) {
	batch := make([]result, 0, r.cfg.CommitBatch)
	for first := range r.results {
		batch = append(batch[:0], first)
	more:
		for len(batch) < r.cfg.CommitBatch {
			select {
			case next, ok := <-r.results:
				if !ok {
					break more
				}
				batch = append(batch, next)
			default:
				break more
			}
		}
		items := make([]CommitItem, len(batch))
		for i, b := range batch {
			items[i] = CommitItem{Task: b.run.task, Res: b.res, To: r.cfg.To}
		}
		errs := r.m.CommitMany(ctx, items)
		committed := 0
		for i, err := range errs {
			switch {
			case err == nil:
				committed++
			case errors.Is(err, ErrLeaseLost):
				r.met.LeaseLost(1)
				r.log.Warn("commit refused: lease lost; result discarded", zap.String("task", batch[i].run.task.ID))
			case errors.Is(err, ErrPayloadTooLarge) || errors.Is(err, ErrInvalidStatus):
				r.met.Failed(1)
				r.log.Warn("result rejected; task failed", zap.String("task", batch[i].run.task.ID), zap.Error(err))
			default:
				r.log.Warn("commit failed; the lease will expire and the task will be retried", zap.String("task", batch[i].run.task.ID), zap.Error(err))
			}
			r.done(batch[i].run)
		}
		r.met.Committed(committed)
	}
}

// heartbeat renews every held lease in one write each Lease/3 and cancels
// the tasks whose lease is gone.
func (r *Runner) heartbeat(ctx context.Context) {
	tick := time.NewTicker(r.cfg.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.mu.Lock()
		refs := make([]LeaseRef, 0, len(r.inflight))
		for _, run := range r.inflight {
			refs = append(refs, run.task.Ref())
		}
		r.mu.Unlock()
		lost, err := r.m.Heartbeat(ctx, refs, r.cfg.Lease)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("heartbeat failed", zap.Error(err), zap.Int("leases", len(refs)))
				r.expireStale()
			}
			continue
		}
		r.renewed.Store(time.Now().UnixNano())
		r.mu.Lock()
		for _, id := range lost {
			if run, ok := r.inflight[id]; ok {
				run.cancel(errLeaseLost)
			}
		}
		r.mu.Unlock()
	}
}

// leasesStale reports whether the held leases have gone unrenewed for
// half a lease: the store is not taking heartbeats, so new claims could not
// be kept alive either. With no lease held there is nothing to keep.
func (r *Runner) leasesStale() bool {
	return r.held() > 0 && time.Since(time.Unix(0, r.renewed.Load())) > r.cfg.Lease/2
}

func (r *Runner) held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.inflight)
}

// expireStale gives up every held task once its lease has gone a whole
// lease length without renewal: another worker's reaper may already have
// taken it back, so its result would be refused. The handlers are
// cancelled (the result is discarded, as for a lost lease) and the slots
// free up; when no lease is held any more, claiming resumes on the next
// wake-up or poll.
func (r *Runner) expireStale() {
	if time.Since(time.Unix(0, r.renewed.Load())) <= r.cfg.Lease {
		return
	}
	r.mu.Lock()
	n := len(r.inflight)
	for _, run := range r.inflight {
		run.cancel(errLeaseExpired)
	}
	r.mu.Unlock()
	if n > 0 {
		r.log.Error("heartbeats failed for longer than the lease; cancelled the tasks held", zap.Int("tasks", n))
	}
}

// reaper takes back tasks of crashed workers.
func (r *Runner) reaper(ctx context.Context) {
	tick := time.NewTicker(r.cfg.ReapInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rr, err := r.m.ReapExpired(ctx, r.cfg.ReapGrace)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("reap failed", zap.Error(err))
			}
			continue
		}
		r.met.Reaped(rr.Requeued, rr.Failed)
	}
}

type nopMetrics struct{}

func (nopMetrics) Claimed(int)                       {}
func (nopMetrics) Committed(int)                     {}
func (nopMetrics) Retried(int)                       {}
func (nopMetrics) Failed(int)                        {}
func (nopMetrics) Released(int)                      {}
func (nopMetrics) Reaped(int, int)                   {}
func (nopMetrics) LeaseLost(int)                     {}
func (nopMetrics) Ran(string, time.Duration, string) {}
func (nopMetrics) Pickup(time.Duration)              {}
func (nopMetrics) InFlight(int)                      {}
