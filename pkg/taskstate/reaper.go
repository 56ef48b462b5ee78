package taskstate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ReaperMetrics receives what a Reaper does. RunnerMetrics includes it.
type ReaperMetrics interface {
	// Reaped counts one pass over one pool: the expired tasks sent back
	// to the pool and those failed because their attempts were spent.
	Reaped(requeued, failed int)
}

// ReaperConfig configures a Reaper. Exactly one of Manager and Store is
// required.
type ReaperConfig struct {
	// Manager is the one pool to reap (a worker's reaper).
	Manager *Manager
	// Store, instead of Manager, reaps every pool of the store (the
	// dispatcher's dev reaper): each pass lists the pools and reaps each
	// through a Manager of its own, built with Notifier, Logger and
	// NowFunc. A pool name that NewManager refuses is skipped.
	Store Store
	// Notifier receives the hints of the Managers built for Store.
	// Defaults to none.
	Notifier Notifier
	// Interval is the time between passes, jittered ±20 %. Defaults to
	// 5 s.
	Interval time.Duration
	// Grace is how long past its expiry, by the store's clock, a lease is
	// left alone. Defaults to 2 s; else within [MinLease, MaxLease]; the
	// special value -1 (any negative value) means none: a lease is reaped
	// as soon as it ends.
	Grace time.Duration
	// NowFunc, for tests, stands in for the store's clock in the Managers
	// built for Store (see Config.Now). Defaults to none: a lease's expiry
	// is judged by the store's clock. With Manager, the Manager's
	// Config.Now does this.
	NowFunc func() time.Time
	// CleanupInterval is how often the staged artifacts that no running
	// attempt holds (what a crashed worker left mid-upload, or a discard
	// that failed) are removed, with Manager.CleanupStaged. Defaults to
	// 1 min; negative disables it.
	CleanupInterval time.Duration
	// Logger logs the passes that fail. Defaults to zap.NewNop().
	Logger *zap.Logger
	// Metrics counts what each pass takes back. Defaults to nothing.
	Metrics ReaperMetrics
}

// Reaper takes back the tasks of crashed or frozen workers: running tasks
// whose lease ended more than Grace ago go back to the status they were
// claimed from, or to failed when their attempts are spent (see
// Manager.ReapExpired). Every Runner runs one over its pool, and
// `dispatcher dev` runs one over every pool of its store. Reaping is
// fenced, so any number of reapers may run at once.
type Reaper struct {
	cfg ReaperConfig

	mu       sync.Mutex
	managers map[string]*Manager // by pool, for Store
}

// NewReaper validates cfg and returns a Reaper.
func NewReaper(cfg ReaperConfig) (*Reaper, error) {
	if (cfg.Manager == nil) == (cfg.Store == nil) {
		return nil, errors.New("taskstate: ReaperConfig needs exactly one of Manager and Store")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	switch {
	case cfg.Grace == 0:
		cfg.Grace = 2 * time.Second
	case cfg.Grace < 0:
		cfg.Grace = 0
	default:
		if err := CheckLease("reap grace", cfg.Grace); err != nil {
			return nil, err
		}
	}
	if cfg.CleanupInterval == 0 {
		cfg.CleanupInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	return &Reaper{cfg: cfg, managers: map[string]*Manager{}}, nil
}

// Run makes a pass every Interval, and an artifact cleanup every
// CleanupInterval, until ctx is done, then returns nil. A pass that fails
// is logged and the next one tries again.
func (r *Reaper) Run(ctx context.Context) error {
	// Jittered ±20 %: the reapers of a fleet started together spread
	// their scans instead of sending them in step.
	tick := time.NewTimer(jitter(r.cfg.Interval))
	defer tick.Stop()
	var cleanup <-chan time.Time // nil: never
	if r.cfg.CleanupInterval > 0 {
		ct := time.NewTicker(r.cfg.CleanupInterval)
		defer ct.Stop()
		cleanup = ct.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if _, err := r.Reap(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Logger.Warn("reap failed", zap.Error(err))
			}
			tick.Reset(jitter(r.cfg.Interval))
		case <-cleanup:
			n, err := r.CleanupStaged(ctx)
			if err != nil && ctx.Err() == nil {
				r.cfg.Logger.Warn("artifact cleanup failed", zap.Error(err))
			}
			if n > 0 {
				r.cfg.Logger.Info("removed the staged artifacts of dead attempts", zap.Int64("artifacts", n))
			}
		}
	}
}

// Reap makes one pass now and returns what it took back, over every pool
// it reaped. Over a Store, a pool that fails does not stop the others: the
// error joins each pool's error.
func (r *Reaper) Reap(ctx context.Context) (ReapResult, error) {
	var total ReapResult
	err := r.eachPool(ctx, func(m *Manager) error {
		rr, err := r.reapPool(ctx, m)
		total.Requeued += rr.Requeued
		total.Failed += rr.Failed
		total.Lost += rr.Lost
		return err
	})
	return total, err
}

// CleanupStaged removes now, over every pool it reaps, the staged
// artifacts no running attempt holds (see Manager.CleanupStaged), and
// returns how many. A store that keeps no artifacts has none.
func (r *Reaper) CleanupStaged(ctx context.Context) (int64, error) {
	var total int64
	err := r.eachPool(ctx, func(m *Manager) error {
		n, err := m.CleanupStaged(ctx)
		total += n
		if errors.Is(err, ErrNoArtifacts) {
			return nil
		}
		return err
	})
	return total, err
}

// eachPool calls fn with the Manager of every pool the reaper serves. Over
// a Store, a pool that fails does not stop the others: the error joins
// each pool's error.
func (r *Reaper) eachPool(ctx context.Context, fn func(m *Manager) error) error {
	if r.cfg.Manager != nil {
		return fn(r.cfg.Manager)
	}
	pools, err := r.cfg.Store.ListPools(ctx)
	if err != nil {
		return fmt.Errorf("list pools: %w", err)
	}
	var errs []error
	for _, p := range pools {
		m, ok := r.manager(p)
		if !ok {
			continue // a pool name this build cannot serve
		}
		if err := fn(m); err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func (r *Reaper) reapPool(ctx context.Context, m *Manager) (ReapResult, error) {
	rr, err := m.ReapExpired(ctx, r.cfg.Grace)
	if err == nil {
		r.cfg.Metrics.Reaped(rr.Requeued, rr.Failed)
	}
	return rr, err
}

// manager returns the Manager of pool, built on first use.
func (r *Reaper) manager(pool string) (*Manager, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.managers[pool]; ok {
		return m, true
	}
	m, err := NewManager(Config{Store: r.cfg.Store, Pool: pool, Notifier: r.cfg.Notifier, Logger: r.cfg.Logger, Now: r.cfg.NowFunc})
	if err != nil {
		return nil, false
	}
	r.managers[pool] = m
	return m, true
}
