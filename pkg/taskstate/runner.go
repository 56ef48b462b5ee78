package taskstate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/pool"
	"go.uber.org/zap"
)

// Outcome is how a handler run ended, as Runner reports it to
// RunnerMetrics.Ran. Its values are metric label values: they never change.
type Outcome string

const (
	// OutcomeOK: the handler returned a result, which goes to the
	// completer to be committed.
	OutcomeOK Outcome = "ok"
	// OutcomeError: the handler returned an error. The task is returned
	// for another attempt, or failed when its attempts are spent, or at
	// once when the error is Permanent or its payload did not decode.
	OutcomeError Outcome = "error"
	// OutcomePanic: the handler panicked; the task is returned as for an
	// error.
	OutcomePanic Outcome = "panic"
	// OutcomeLeaseLost: the lease went (taken back by a reaper or an
	// admin, or not renewed for a whole lease) while the handler ran; its
	// result is discarded.
	OutcomeLeaseLost Outcome = "lease_lost"
	// OutcomeCancelled: the runner stopped and the drain timeout ended the
	// handler; the task is released without spending the attempt.
	OutcomeCancelled Outcome = "cancelled"
)

// Outcomes returns every Outcome, in the order of the constants.
func Outcomes() []Outcome {
	return []Outcome{OutcomeOK, OutcomeError, OutcomePanic, OutcomeLeaseLost, OutcomeCancelled}
}

// RunnerMetrics receives what a Runner does. A nil RunnerMetrics in the
// config records nothing. internal/metrics implements it with Prometheus.
type RunnerMetrics interface {
	// ReaperMetrics counts what the runner's reaper takes back.
	ReaperMetrics
	Claimed(n int)
	Committed(n int)
	Retried(n int)
	Failed(n int)
	Released(n int)
	LeaseLost(n int)
	// Ran observes a handler run: its kind, duration and outcome.
	Ran(kind string, d time.Duration, outcome Outcome)
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
	// Lease is the lease length, from the store's now; one heartbeat per
	// process renews every held lease each Lease/3. Default 30 s; else
	// within [MinLease, MaxLease].
	Lease time.Duration
	// PollInterval is the fallback poll when no event arrives, jittered
	// ±20 %. Default DefaultPollInterval (150 ms): a poll that finds
	// nothing is a read, not a write.
	PollInterval time.Duration
	// EventPollInterval replaces PollInterval while WakeupsLive reports
	// true: wake-ups then find the work and the poll only covers a lost
	// one. Default DefaultEventPollInterval (5 s); never shorter than
	// PollInterval. Tasks this runner
	// returned with a backoff are claimed when their backoff ends, whatever
	// the poll.
	EventPollInterval time.Duration
	// WakeupsLive, when set, reports whether Wakeups are being delivered
	// now (the event bus is connected and its queue answers). Unset: the
	// runner always polls every PollInterval.
	WakeupsLive func() bool
	// Wakeups, when set, delivers event hints (tasks created or available);
	// each makes the runner claim at once. The runner receives only while
	// it has a free slot, and backs off wake-ups whose claims find nothing
	// (up to PollInterval/2 between them), so a flood of events costs a
	// bounded claim rate.
	Wakeups <-chan struct{}
	// DrainTimeout is how long a stopping runner lets in-flight tasks finish
	// before it cancels them and returns them to the pool. Default 10 s.
	DrainTimeout time.Duration
	// ReapInterval is how often the runner's Reaper (over its Manager's
	// pool) looks for expired leases. Default 5 s; negative disables the
	// reaper.
	ReapInterval time.Duration
	// ReapGrace is how long past its expiry, by the store's clock, a lease
	// is left alone. Default 2 s; else within [MinLease, MaxLease].
	ReapGrace time.Duration
	// CommitBatch caps the results committed in one store round trip.
	// Default 256.
	CommitBatch int
	// CommitLinger is how long the completer may wait for the worker's
	// running tasks to finish, to commit them in one batch, while other
	// processes write to the store (a Store that is Shared: a SQLite file
	// other processes have open; they take turns on its writer, so fewer,
	// larger transactions go further, docs/BENCHMARKS.md round 10) or
	// while the worker runs on one CPU (GOMAXPROCS 1, as in a container
	// limited to one CPU: the completer then runs whenever a handler
	// yields, and without the wait commits three tasks a transaction
	// instead of two hundred, round 11). Otherwise a worker commits at
	// once. Default 1 ms; negative: never wait.
	CommitLinger time.Duration
	// NowFunc is the worker's own clock: the claim loop's and the
	// heartbeat's view of how long ago the held leases were last renewed,
	// and the pickup latency. It decides no lease end and no expiry: the
	// store's clock does. Defaults to the Manager's clock (Config.Now),
	// which defaults to time.Now.
	NowFunc func() time.Time
	// Logger logs task failures and lifecycle. Default: zap.NewNop().
	Logger *zap.Logger
	// Metrics records what happens. Default: nothing.
	Metrics RunnerMetrics
	// ArtifactLimits bound what one attempt stores through Artifacts:
	// DefaultMaxArtifactSize (2 GiB) per artifact and
	// DefaultMaxTaskArtifacts (4 GiB) per attempt by default. A handler
	// over a limit fails its task for good.
	ArtifactLimits ArtifactLimits
	// Worker, when set, is registered in the store as a live worker of the
	// pool while Run runs (ID defaults to Owner, Kinds and Concurrency to
	// the runner's), renewed by each heartbeat and removed on return.
	// Default: not registered.
	Worker *WorkerInfo
}

// Runner claims tasks as slots free up and runs them with their handler.
// It is the claim loop; it owns three services, each in its own
// goroutine while Run runs: a heartbeat that renews every held lease, a
// completer that commits results in batches, and a Reaper over its pool.
type Runner struct {
	cfg   RunnerConfig
	m     *Manager
	log   *zap.Logger
	met   RunnerMetrics
	now   func() time.Time
	kinds []string

	held   *held
	hb     *heartbeat
	comp   *completer
	reaper *Reaper // nil: disabled

	count atomic.Int64 // handlers running
	// Tasks started, and those of them that ended without a result for
	// the completer (the completer's expected results).
	started, unqueued atomic.Int64
	freed             chan struct{}

	// claimMu is held from reading the free slots to starting what a claim
	// took, by the claim loop and by the completer (which claims with its
	// commits), so that the two never claim the same slots.
	claimMu  sync.Mutex
	stopping bool // no more claims (under claimMu)
	// more says there may be claimable tasks: the last claim filled every
	// free slot, or a wake-up, the poll or a retry's end came since.
	more  atomic.Bool
	hard  context.Context // the handlers' context, set by Run
	tasks *pool.Pool      // the handlers' goroutines, set by Run
}

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
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if err := CheckLease("lease", cfg.Lease); err != nil {
		return nil, err
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.EventPollInterval <= 0 {
		cfg.EventPollInterval = DefaultEventPollInterval
	}
	cfg.EventPollInterval = max(cfg.EventPollInterval, cfg.PollInterval)
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = 5 * time.Second
	}
	if cfg.ReapGrace == 0 {
		cfg.ReapGrace = 2 * time.Second
	}
	if err := CheckLease("reap grace", cfg.ReapGrace); err != nil {
		return nil, err
	}
	if cfg.CommitBatch <= 0 {
		cfg.CommitBatch = 256
	}
	if cfg.CommitLinger == 0 {
		cfg.CommitLinger = time.Millisecond
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
	now := clockOf(cfg.NowFunc, cfg.Manager)
	h := newHeld()
	r := &Runner{
		cfg: cfg, m: cfg.Manager, log: cfg.Logger, met: cfg.Metrics, now: now, kinds: kinds,
		held: h,
		hb:   &heartbeat{m: cfg.Manager, held: h, lease: cfg.Lease, now: now, log: cfg.Logger},
		comp: &completer{m: cfg.Manager, to: cfg.To, batch: cfg.CommitBatch, held: h, met: cfg.Metrics, log: cfg.Logger,
			queue: make(chan result, cfg.Concurrency)},
		freed: make(chan struct{}, 1),
	}
	if cfg.Manager.finishClaimer() {
		// One store call commits and claims; elsewhere (MongoDB) the
		// claim loop claims alongside the completer's commits.
		r.comp.refill, r.comp.woke = r.refill, r.freed
	}
	r.comp.linger = cfg.CommitLinger
	r.comp.gathers = func() bool { return cfg.Manager.shared() || runtime.GOMAXPROCS(0) == 1 }
	r.comp.expected = func() int64 { return r.started.Load() - r.unqueued.Load() }
	if cfg.Worker != nil {
		w := *cfg.Worker
		w.ID = cmp.Or(w.ID, cfg.Owner)
		if len(w.Kinds) == 0 {
			w.Kinds = slices.Sorted(slices.Values(kinds))
		}
		w.Concurrency = cmp.Or(w.Concurrency, cfg.Concurrency)
		w.From = cmp.Or(w.From, cfg.From)
		r.hb.worker = &w
	}
	if cfg.ReapInterval > 0 {
		reaper, err := NewReaper(ReaperConfig{Manager: cfg.Manager, Interval: cfg.ReapInterval, Grace: cfg.ReapGrace,
			Logger: cfg.Logger, Metrics: cfg.Metrics})
		if err != nil {
			return nil, err
		}
		r.reaper = reaper
	}
	return r, nil
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

	r.hb.markRenewed()
	r.hb.register(ctx)
	if w := r.hb.worker; w != nil {
		defer func() {
			if err := r.m.removeWorker(bg, w.ID); err != nil {
				r.log.Warn("worker registry entry not removed", zap.Error(err))
			}
		}()
	}
	var side conc.WaitGroup // heartbeat and reaper: owned here, stopped last
	sideCtx, stopSide := context.WithCancel(bg)
	side.Go(func() { r.hb.run(sideCtx) })
	if r.reaper != nil {
		side.Go(func() { _ = r.reaper.Run(sideCtx) })
	}
	tasks := pool.New().WithMaxGoroutines(r.cfg.Concurrency)
	r.hard, r.tasks = hard, tasks
	var completing conc.WaitGroup // the completer: owned here, ends when its queue is closed and empty
	completing.Go(func() { r.comp.run(bg) })

	r.claimLoop(ctx)
	// The completer claims with its commits until now; after this no
	// task starts, so the drain below sees every one.
	r.claimMu.Lock()
	r.stopping = true
	r.claimMu.Unlock()

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
	close(r.comp.queue)
	completing.Wait()
	stopSide()
	side.Wait()
	return nil
}

func (r *Runner) claimLoop(ctx context.Context) {
	poll := time.NewTimer(jitter(r.cfg.PollInterval))
	defer poll.Stop()
	// While wake-ups are live the poll only covers a lost one: it claims
	// once no claim was made for about EventPollInterval. The timer still
	// ticks every PollInterval, so a lost event bus is noticed that soon.
	lastClaim, quiet := time.Now(), jitter(r.cfg.EventPollInterval)
	gate := newWakeGate(r.cfg.PollInterval / 2)
	defer gate.stop()
	retry := time.NewTimer(time.Hour) // a returned task's backoff ends
	retry.Stop()
	defer retry.Stop()
	r.more.Store(true)
	woken := false // a wake-up, not the poll, asked for the next claim
	for ctx.Err() == nil {
		free := r.cfg.Concurrency - r.InFlight()
		var due time.Time // a returned task's backoff ends: claim then
		if free > 0 {
			var passed bool
			due, passed = r.m.nextRetry(time.Now())
			if passed {
				r.more.Store(true)
			}
		}
		// Slots freed by results the completer is about to commit are
		// claimed by the completer, in the same store round trip.
		if r.more.Load() && free > 0 && !r.hb.stale() && (r.comp.refill == nil || r.comp.queued.Load() == 0) {
			lastClaim = time.Now()
			n, err := r.claim(ctx, woken && gate.trusted())
			gate.result(woken, n > 0)
			woken = false
			if err != nil && ctx.Err() == nil {
				r.log.Warn("claim failed", zap.Error(err))
			}
			if r.more.Load() {
				continue
			}
		}
		// A worker takes wake-ups only with a free slot: a work-queue
		// wake-up it does not take goes to another worker.
		wake := gate.of(r.cfg.Wakeups)
		if r.InFlight() >= r.cfg.Concurrency {
			wake = nil
		}
		var retried <-chan time.Time
		if !due.IsZero() {
			retry.Reset(time.Until(due))
			retried = retry.C
		}
		select {
		case <-ctx.Done():
		case <-retried:
			r.more.Store(true)
		case <-wake:
			r.more.Store(true)
			woken = true
		case <-gate.reopened():
			gate.open()
		case <-r.freed:
		case <-poll.C:
			if !r.wakeupsLive() || time.Since(lastClaim) >= quiet {
				r.more.Store(true)
				quiet = jitter(r.cfg.EventPollInterval)
			}
			poll.Reset(jitter(r.cfg.PollInterval))
		}
	}
}

// claim claims for the free slots and starts what it took; it reports how
// many. It leaves more set only when the claim filled every free slot.
// woken marks a claim asked for by a trusted wake-up (ClaimOptions.Woken).
func (r *Runner) claim(ctx context.Context, woken bool) (int, error) {
	r.claimMu.Lock()
	defer r.claimMu.Unlock()
	free := r.cfg.Concurrency - r.InFlight()
	if free <= 0 {
		return 0, nil
	}
	opts := r.claimOptions(free)
	opts.Woken = woken
	claimed, err := r.m.Claim(ctx, opts)
	// A backend may return the tasks it did claim along with an error:
	// run them rather than leave them to the reaper.
	r.took(claimed, free, err == nil)
	return len(claimed), err
}

// took starts the tasks a claim for free slots took, with the claim
// mutex held. more stays set only when the claim succeeded (ok) and
// filled every slot.
func (r *Runner) took(claimed []*Task, free int, ok bool) {
	r.met.Claimed(len(claimed))
	for _, t := range claimed {
		r.start(t)
	}
	r.more.Store(ok && len(claimed) == free)
}

// claimOptions are the runner's claim for up to limit tasks.
func (r *Runner) claimOptions(limit int) ClaimOptions {
	return ClaimOptions{From: r.cfg.From, Kinds: r.kinds, Query: r.cfg.Query, Owner: r.cfg.Owner,
		Lease: r.cfg.Lease, Limit: limit}
}

// refill is the completer's claim: with the claim mutex held, the claim
// for the free slots (ok false: none, or the runner is stopping), and
// start, which runs what it claimed and lets the mutex go. The claim
// loop is woken afterwards, to claim what the completer did not.
func (r *Runner) refill() (opts ClaimOptions, ok bool, start func([]*Task)) {
	r.claimMu.Lock()
	free := r.cfg.Concurrency - r.InFlight()
	if r.stopping || free <= 0 || !r.more.Load() || r.hb.stale() {
		r.claimMu.Unlock()
		return ClaimOptions{}, false, nil
	}
	return r.claimOptions(free), true, func(claimed []*Task) {
		r.took(claimed, free, true)
		r.claimMu.Unlock()
	}
}

// wakeupsLive reports whether wake-ups are flowing (see WakeupsLive).
func (r *Runner) wakeupsLive() bool {
	return r.cfg.Wakeups != nil && r.cfg.WakeupsLive != nil && r.cfg.WakeupsLive()
}

// jitter returns d ±20 %.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (r *Runner) start(t *Task) {
	tctx, cancel := context.WithCancelCause(r.hard)
	run := &running{task: t, cancel: cancel}
	r.held.add(run)
	r.met.InFlight(int(r.count.Add(1)))
	r.started.Add(1)
	r.tasks.Go(func() {
		defer func() {
			r.met.InFlight(int(r.count.Add(-1)))
			select {
			case r.freed <- struct{}{}:
			default:
			}
		}()
		if !r.runTask(tctx, run) {
			r.held.remove(run)
			r.unqueued.Add(1)
		}
	})
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
		r.met.Pickup(r.now().Sub(ready))
	}
	hctx, arts := withArtifacts(ctx, r.m, t, r.cfg.ArtifactLimits)
	res, err := Call(func() (any, error) { return handler(hctx, t, param) })
	elapsed := time.Since(start)
	cause := context.Cause(ctx)
	leaseLost := errors.Is(cause, errLeaseLost) || errors.Is(cause, errLeaseExpired)
	if arts.close() {
		leaseLost, err = r.settleArtifacts(bg(), log, t, leaseLost, err)
	}
	switch {
	case leaseLost:
		r.met.Ran(t.Kind, elapsed, OutcomeLeaseLost)
		r.met.LeaseLost(1)
		log().Warn("lease lost; result discarded")
	case err == nil:
		r.met.Ran(t.Kind, elapsed, OutcomeOK)
		// Encode here, in parallel with the other slots; a result that
		// does not encode goes as it is and CommitMany fails the task.
		out := result{run: run}
		if b, eerr := r.m.Codec().Encode(res); eerr == nil {
			out.enc = b
		} else {
			out.res = res
		}
		r.comp.queued.Add(1)
		r.comp.queue <- out
		return true
	case errors.Is(cause, errDraining):
		r.met.Ran(t.Kind, elapsed, OutcomeCancelled)
		if rerr := r.m.Release(bg(), t); rerr != nil {
			log().Warn("release failed", zap.Error(rerr))
		} else {
			r.met.Released(1)
			log().Info("returned to the pool on shutdown")
		}
	case noRetry(err):
		r.met.Ran(t.Kind, elapsed, OutcomeError)
		r.fail(bg(), log(), t, err)
	default:
		outcome := OutcomeError
		log := log()
		if errors.Is(err, ErrPanic) {
			outcome = OutcomePanic
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

// settleArtifacts ends the artifacts an attempt staged: a success
// promotes them (fenced by the lease) before its result goes to the
// completer, anything else discards them. A promote refused for a lost
// lease turns the run into a lost lease; one that failed otherwise turns
// it into an error, retried.
func (r *Runner) settleArtifacts(ctx context.Context, log func() *zap.Logger, t *Task, leaseLost bool, err error) (bool, error) {
	if err == nil && !leaseLost {
		perr := r.m.PromoteArtifacts(ctx, t)
		switch {
		case perr == nil:
			return false, nil
		case errors.Is(perr, ErrLeaseLost):
			return true, nil // the store discarded them
		}
		err = perr
	}
	if derr := r.m.DiscardStaged(ctx, t); derr != nil {
		// The reaper's CleanupStaged removes them later.
		log().Warn("staged artifacts not discarded", zap.Error(derr))
	}
	return leaseLost, err
}

func (r *Runner) fail(ctx context.Context, log *zap.Logger, t *Task, err error) {
	if ferr := r.m.Fail(ctx, t, err); ferr != nil {
		log.Warn("fail failed", zap.Error(ferr))
		return
	}
	r.met.Failed(1)
	log.Warn("task failed", zap.Error(err))
}

type nopMetrics struct{}

func (nopMetrics) Claimed(int)                        {}
func (nopMetrics) Committed(int)                      {}
func (nopMetrics) Retried(int)                        {}
func (nopMetrics) Failed(int)                         {}
func (nopMetrics) Released(int)                       {}
func (nopMetrics) Reaped(int, int)                    {}
func (nopMetrics) LeaseLost(int)                      {}
func (nopMetrics) Ran(string, time.Duration, Outcome) {}
func (nopMetrics) Pickup(time.Duration)               {}
func (nopMetrics) InFlight(int)                       {}
