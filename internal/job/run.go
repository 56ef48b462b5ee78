package job

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/sourcegraph/conc"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// ErrTasksFailed is returned (after collecting what finished) when some
// tasks of the run ended failed.
var ErrTasksFailed = errors.New("some tasks failed")

// WakeupFunc subscribes to events of the pool; nil runs without events.
type WakeupFunc func(ctx context.Context, evs ...taskstate.Event) (ch <-chan struct{}, stop func(), err error)

// Options configure Run.
type Options struct {
	Config   *Config
	Manager  *taskstate.Manager // on Config.Pool
	Wakeups  WakeupFunc
	Log      *zap.Logger
	Progress func(taskstate.Counts)
	// InProcess runs Config.Workers workers in this process (the embedded
	// default); otherwise a fleet is expected to work on the pool.
	InProcess bool
	// Reset removes every task of the pool first (Qlib's example reset()).
	Reset bool
	// Timeout bounds the wait; 0 waits for ever.
	Timeout time.Duration
	// Lease, PollInterval of the in-process workers. Defaults 30 s and
	// taskstate.DefaultPollInterval.
	Lease, PollInterval time.Duration
	// WorkParent is where the in-process workers' programs make their work
	// root (program.OpenWorkRoot). Default: the system's temporary
	// directory.
	WorkParent string
}

// Result is what a run did.
type Result struct {
	Pool  string `json:"pool"`
	Tasks int    `json:"tasks"`
	// Added is the number of windows a run with until added to a pool
	// that had windows (see Config.Until).
	Added int `json:"windows_added"`
	// Online reports that the run rolled an existing pool forward.
	Online    bool              `json:"online"`
	New       int               `json:"new"`
	Reused    int               `json:"reused"`
	Removed   int64             `json:"removed"`
	Counts    map[string]int    `json:"counts"`
	Wall      time.Duration     `json:"-"`
	WallSec   float64           `json:"wall_seconds"`
	Collected *Collected        `json:"collected,omitempty"`
	Stuck     []*taskstate.Task `json:"-"`
}

// Run generates the tasks, creates them, runs them (in-process workers
// when asked), waits for them and collects their predictions.
func Run(ctx context.Context, o Options) (*Result, error) {
	start := time.Now()
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	cfg, m, log := o.Config, o.Manager, o.Log
	res := &Result{Pool: cfg.Pool}
	specs, _, err := cfg.Specs()
	if err != nil {
		return nil, err
	}
	if o.Reset {
		n, err := m.Remove(ctx, taskstate.Query{}, true)
		if err != nil {
			return nil, fmt.Errorf("reset pool %s: %w", cfg.Pool, err)
		}
		res.Removed = n
		log.Info("pool reset", zap.String("pool", cfg.Pool), zap.Int64("removed", n))
	}
	online := false
	if cfg.Until != "" {
		more, had, err := cfg.following(ctx, m)
		if err != nil {
			return nil, err
		}
		if had {
			specs, online = more, true
		}
	}
	res.Tasks = len(specs)
	created, err := m.Create(ctx, specs, taskstate.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create tasks: %w", err)
	}
	res.New, res.Reused = created.NewCount, len(specs)-created.NewCount
	log.Info("tasks created", zap.String("pool", cfg.Pool), zap.Int("total", len(specs)), zap.Int("new", created.NewCount))
	q := taskstate.ByIDs(created.IDs...)
	collectQ := q
	if online { // every window of the pool, old and new
		res.Added, res.Online = created.NewCount, true
		collectQ = taskstate.Query{}.Where(taskstate.FieldKind, taskstate.OpEq, cfg.Kind)
	}

	var workers conc.WaitGroup
	stopWorkers := func() {}
	if o.InProcess {
		wctx, cancel := context.WithCancel(ctx)
		work, err := startWorkers(wctx, &workers, o)
		stopWorkers = func() { cancel(); workers.Wait(); _ = work.Close() }
		if err != nil {
			stopWorkers()
			return nil, err
		}
	}
	wake, stopWake := (<-chan struct{})(nil), func() {}
	if o.Wakeups != nil {
		if wake, stopWake, err = o.Wakeups(ctx, taskstate.EventCommitted, taskstate.EventFailed); err != nil {
			stopWorkers()
			return nil, err
		}
	}
	waited, werr := m.Wait(ctx, taskstate.WaitOptions{Query: q, Wakeups: wake, Timeout: o.Timeout, Progress: o.Progress})
	stopWake()
	stopWorkers()
	res.Counts = map[string]int{}
	for s, n := range waited.Counts {
		res.Counts[string(s)] = n
	}
	if werr != nil {
		res.Stuck = waited.Stuck
		res.Wall = time.Since(start)
		res.WallSec = res.Wall.Seconds()
		return res, werr
	}
	if !cfg.Collect.Skip {
		col, err := Collect(ctx, cfg, m, collectQ, log)
		if err != nil {
			res.Wall = time.Since(start)
			res.WallSec = res.Wall.Seconds()
			return res, err
		}
		sortWindows(col.Windows)
		res.Collected = col
	}
	res.Wall = time.Since(start)
	res.WallSec = res.Wall.Seconds()
	if n := waited.Counts[taskstate.StatusFailed]; n > 0 {
		return res, fmt.Errorf("%w: %d of %d tasks failed (dispatcher query --pool %s --filter '{\"status\":\"failed\"}')", ErrTasksFailed, n, len(specs), cfg.Pool)
	}
	return res, nil
}

// startWorkers runs cfg.Workers runners (two stages each for a two-phase
// run) owned by wg until ctx is done. With programs it returns the work
// root of their attempts, to close once wg is done.
func startWorkers(ctx context.Context, wg *conc.WaitGroup, o Options) (*program.WorkRoot, error) {
	cfg := o.Config
	work, err := program.OpenWorkRootFor(cfg.Programs, o.WorkParent, o.Log)
	if err != nil {
		return nil, err
	}
	kinds := handlers.All()
	maps.Copy(kinds, handlers.Programs(cfg.Programs, program.Options{
		Pool: cfg.Pool, Logger: o.Log, LogSink: program.ManagerSink(o.Manager), DecodeDef: o.Manager.Codec().Decode,
		WorkRoot: work.Dir(),
	}))
	h, ok := kinds[cfg.Kind]
	if !ok {
		return work, fmt.Errorf("%w: %s: kind: %q is neither a built-in kind nor a program of programs: (in-process workers run only these)", ErrInvalidConfig, cfg.File, cfg.Kind)
	}
	stages := []struct{ from, to taskstate.Status }{{taskstate.StatusWaiting, taskstate.StatusDone}}
	if cfg.TwoPhase {
		stages = []struct{ from, to taskstate.Status }{
			{taskstate.StatusWaiting, taskstate.StatusPartDone},
			{taskstate.StatusPartDone, taskstate.StatusDone},
		}
	}
	poll := o.PollInterval
	if poll <= 0 {
		poll = taskstate.DefaultPollInterval
	}
	for w := range cfg.Workers {
		for _, st := range stages {
			var wake <-chan struct{}
			stop := func() {}
			if o.Wakeups != nil {
				var err error
				if wake, stop, err = o.Wakeups(ctx, taskstate.EventCreated, taskstate.EventAvailable, taskstate.EventCommitted); err != nil {
					return work, err
				}
			}
			r, err := taskstate.NewRunner(taskstate.RunnerConfig{
				Manager: o.Manager, Handlers: map[string]taskstate.HandlerFunc{cfg.Kind: h}, Concurrency: cfg.Concurrency,
				From: st.from, To: st.to, Owner: fmt.Sprintf("%s/worker-%d/%s", taskstate.DefaultOwner(), w, st.from),
				Lease: o.Lease, PollInterval: poll, Wakeups: wake, Logger: o.Log,
			})
			if err != nil {
				stop()
				return work, err
			}
			wg.Go(func() {
				defer stop()
				_ = r.Run(ctx)
			})
		}
	}
	return work, nil
}
