package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/pkg/events"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
	"github.com/taskfleet/taskfleet/pkg/taskstate/sqlitestore"
)

// Scenario names one benchmark.
type Scenario string

// The scenarios, in the order Run runs them.
const (
	// Burndown creates N no-op tasks, then starts the fleet and measures
	// tasks/s until every task is done.
	Burndown Scenario = "burndown"
	// Pickup creates one task at a time on an idle fleet and measures the
	// time from just before Create to the start of its handler.
	Pickup Scenario = "pickup"
	// Wait measures how long Manager.Wait takes to return after the commit
	// of the last task it waits for.
	Wait Scenario = "wait"
	// Create creates CreateN tasks in batches and measures tasks/s.
	Create Scenario = "create"
	// Stat counts a pool of CreateN tasks by status.
	Stat Scenario = "stat"
	// CreateCLI runs `dispatcher create -f` on a task file (createcli.go).
	CreateCLI Scenario = "create-cli"
)

// Scenarios lists every scenario in the order Run runs them.
var Scenarios = []Scenario{Burndown, Pickup, Wait, Create, Stat, PollingScenario}

// NamedScenarios run only when named, after the others: they need more
// than the defaults (create-cli: the dispatcher binary; fanout: hundreds of
// worker processes; filtered: a 1M-task pool; multiproc: worker processes).
var NamedScenarios = []Scenario{CreateCLI, Fanout, Filtered, Multiproc}

func known(s Scenario) bool {
	return slices.Contains(Scenarios, s) || slices.Contains(NamedScenarios, s)
}

// ParseScenarios parses a comma-separated list of scenario names; "all" (or
// an empty string) selects every scenario. The result is in run order,
// without repeats.
func ParseScenarios(s string) ([]Scenario, error) {
	var out []Scenario
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case name == "all":
			return slices.Clone(Scenarios), nil
		case !known(Scenario(name)):
			return nil, fmt.Errorf("unknown scenario %q (want all or a comma-separated list of %s)", name, joinScenarios(append(slices.Clone(Scenarios), NamedScenarios...)))
		case !slices.Contains(out, Scenario(name)):
			out = append(out, Scenario(name))
		}
	}
	if len(out) == 0 {
		return slices.Clone(Scenarios), nil
	}
	return ordered(out), nil
}

func ordered(ss []Scenario) []Scenario {
	var out []Scenario
	for _, s := range append(slices.Clone(Scenarios), NamedScenarios...) {
		if slices.Contains(ss, s) {
			out = append(out, s)
		}
	}
	return out
}

func joinScenarios(ss []Scenario) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// Defaults of Config.
const (
	DefaultN             = 100_000
	DefaultCreateN       = 1_000_000
	DefaultCreateCLIN    = 100_000
	DefaultBatch         = 10_000
	DefaultWorkers       = 1
	DefaultConcurrency   = 256
	DefaultPickupSamples = 500
	DefaultWaitSamples   = 100
	DefaultStatRuns      = 20
	DefaultPollInterval  = taskstate.DefaultPollInterval
	DefaultIdle          = 5 * time.Millisecond
	DefaultProgressEvery = 2 * time.Second
)

// Config configures Run. The zero value runs every scenario with the
// defaults, fully embedded.
type Config struct {
	// Scenarios to run, in any order (Run uses its own). Defaults to all.
	Scenarios []Scenario
	// N is the number of tasks of the burn-down. Defaults to 100,000.
	N int
	// CreateN is the number of tasks of the create scenario, which the stat
	// scenario counts. Defaults to 1,000,000.
	CreateN int
	// Batch is the number of tasks per Create call when filling a pool.
	// Defaults to 10,000.
	Batch int
	// Workers is the number of Runners of the fleet; they share the
	// process's store handle and event connection. Defaults to 1.
	Workers int
	// Concurrency is the goroutine pool of each Runner. Defaults to 256
	// (docs/BENCHMARKS.md has the sweep that chose it).
	Concurrency int
	// PickupSamples is the number of tasks the pickup scenario times.
	// Defaults to 500.
	PickupSamples int
	// WaitSamples is the number of waits the wait scenario times. Defaults
	// to 100.
	WaitSamples int
	// StatRuns is the number of Stat calls the stat scenario times (it
	// reports their median). Defaults to 20.
	StatRuns int
	// NoEvents runs without NATS: runners find tasks by polling every
	// PollInterval and Wait recounts on its fallback timer.
	NoEvents bool
	// PollInterval is the runners' fallback poll. Defaults to
	// taskstate.DefaultPollInterval, the worker's default.
	PollInterval time.Duration
	// Idle is the pause before each latency sample, so that every sample
	// finds an idle fleet (longer than the wake-up debounce). Defaults to
	// 5 ms; a negative value pauses not at all.
	Idle time.Duration
	// ProgressEvery is the interval of the progress lines. Defaults to 2 s.
	ProgressEvery time.Duration
	// IdleFor is how long the polling scenario's idle fleet is measured.
	// Defaults to DefaultIdleFor (10 s).
	IdleFor time.Duration

	// Store is the backend to benchmark. Defaults to a fresh SQLite file in
	// a temporary directory, removed at the end.
	Store taskstate.Store
	// StoreName describes Store in the results (credentials removed).
	// Defaults to "sqlite (temporary file)" when Store is nil.
	StoreName string
	// Keep leaves the benchmark pools in Store at the end. By default they
	// are removed (a temporary store is removed whole).
	Keep bool
	// GCPercent is the garbage collector target in effect, as reported by
	// the caller that set it (0: not reported; -1: off).
	GCPercent int
	// Events connects to this NATS server instead of starting one in the
	// process. Ignored with NoEvents.
	Events *events.Config

	// CreateCLIN is the number of tasks of the create-cli scenario.
	// Defaults to 100,000.
	CreateCLIN int
	// Executable is the dispatcher binary the create-cli scenario runs.
	Executable string
	// StoreURI is the store of the create-cli child process, given with
	// Store. Defaults to the temporary SQLite file.
	StoreURI string

	// Logger receives the runners' warnings. Defaults to none.
	Logger *zap.Logger

	// Fanout configures the fanout scenario.
	Fanout FanoutConfig
	// Procs is the number of worker processes of the multiproc scenario's
	// second run. Defaults to 4.
	Procs int
	// ProcCPUs is the --cpus of each worker process of the multiproc
	// scenario's runs of Procs processes (the run of one process is left
	// at Go's default, every CPU). Defaults to the machine's CPUs divided
	// by Procs, at least 1: each process's share, as docs/SCALE.md
	// recommends. Negative: Go's default for them too.
	ProcCPUs int
	// WorkerBin is the worker binary the multiproc scenario starts.
	// Defaults to the worker next to this executable, then on PATH.
	WorkerBin string
}

func (c Config) withDefaults() (Config, error) {
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"N", &c.N, DefaultN}, {"CreateN", &c.CreateN, DefaultCreateN}, {"Batch", &c.Batch, DefaultBatch},
		{"Workers", &c.Workers, DefaultWorkers}, {"Concurrency", &c.Concurrency, DefaultConcurrency},
		{"PickupSamples", &c.PickupSamples, DefaultPickupSamples}, {"WaitSamples", &c.WaitSamples, DefaultWaitSamples},
		{"StatRuns", &c.StatRuns, DefaultStatRuns}, {"CreateCLIN", &c.CreateCLIN, DefaultCreateCLIN}, {"Procs", &c.Procs, DefaultProcs},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("bench: Config.%s must not be negative, got %d", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"PollInterval", &c.PollInterval, DefaultPollInterval}, {"ProgressEvery", &c.ProgressEvery, DefaultProgressEvery},
		{"IdleFor", &c.IdleFor, DefaultIdleFor},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("bench: Config.%s must not be negative, got %s", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	switch {
	case c.Idle == 0:
		c.Idle = DefaultIdle
	case c.Idle < 0:
		c.Idle = 0
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios
	}
	for _, s := range c.Scenarios {
		if !known(s) {
			return c, fmt.Errorf("bench: unknown scenario %q (want %s)", s, joinScenarios(append(slices.Clone(Scenarios), NamedScenarios...)))
		}
	}
	c.Scenarios = ordered(c.Scenarios)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c, nil
}

// Run runs the configured scenarios one after the other and returns their
// figures. Progress lines (every ProgressEvery while a long scenario runs,
// and one summary line per scenario) go to progress, which may be nil.
// It stops at the first scenario that fails, returning the figures of the
// scenarios before it.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Results, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Results{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	b := &bench{cfg: cfg, out: progress, log: cfg.Logger, run: taskstate.NewToken()[:8]}
	res := Results{Config: b.report()}
	if err := b.setup(ctx); err != nil {
		_ = b.teardown() // the setup error says what went wrong; a cleanup error after it adds nothing
		return res, err
	}
	res.Config = b.report()
	err = b.runAll(ctx, &res)
	if cerr := b.teardown(); err == nil {
		err = cerr
	}
	return res, err
}

// bench is one Run: the store, the event connections and the pools.
type bench struct {
	cfg Config
	out io.Writer
	log *zap.Logger
	run string // random, in every pool name and def: runs never share a task

	store     taskstate.Store
	tempDir   string
	srv       *events.Embedded
	dispConn  *events.Conn // the dispatcher side: creates and waits
	workConn  *events.Conn // the worker side: runners
	events    string       // how events are delivered, for the report
	pools     []string     // created, removed at the end
	createdIn string       // the pool the create scenario filled, for stat

	// arrival: pickup samples arrive up to this much later than Idle, at
	// random (the polling scenario).
	arrival time.Duration
}

func (b *bench) runAll(ctx context.Context, res *Results) error {
	for _, s := range b.cfg.Scenarios {
		var err error
		switch s {
		case Burndown:
			res.Burndown, err = b.burndown(ctx)
		case Pickup:
			res.Pickup, err = b.pickup(ctx)
		case Wait:
			res.Wait, err = b.wait(ctx)
		case Create:
			res.Create, err = b.create(ctx)
		case Stat:
			res.Stat, err = b.stat(ctx)
		case CreateCLI:
			res.CreateCLI, err = b.createCLI(ctx)
		case PollingScenario:
			res.Polling, err = b.polling(ctx)
		case Fanout:
			res.Fanout, err = b.fanout(ctx)
		case Filtered:
			res.Filtered, err = b.filtered(ctx)
		case Multiproc:
			res.Multiproc, err = b.multiproc(ctx)
		}
		if err != nil {
			return fmt.Errorf("bench %s: %w", s, err)
		}
	}
	return nil
}

func (b *bench) setup(ctx context.Context) error {
	b.store = b.cfg.Store
	if b.store == nil {
		dir, err := os.MkdirTemp("", "taskfleet-bench-")
		if err != nil {
			return fmt.Errorf("bench: temporary store: %w", err)
		}
		b.tempDir = dir
		s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(dir, "tasks.db")})
		if err != nil {
			return fmt.Errorf("bench: temporary store: %w", err)
		}
		b.store = s
	}
	if b.cfg.NoEvents {
		b.events = "off (polling)"
		return nil
	}
	// Connection notices would only interleave with the progress lines.
	quiet := b.log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))
	connect := func(name string) (*events.Conn, error) {
		if b.cfg.Events != nil {
			cfg := *b.cfg.Events
			cfg.Name, cfg.Logger = name, quiet
			return events.Connect(ctx, cfg)
		}
		return events.ConnectInProcess(ctx, b.srv, events.Config{Name: name, Logger: quiet})
	}
	if b.cfg.Events != nil {
		b.events = "NATS " + events.Redact(b.cfg.Events.URL)
	} else {
		srv, err := events.StartEmbedded(events.EmbeddedConfig{InProcessOnly: true, Logger: quiet})
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		b.srv = srv
		b.events = "embedded NATS (in-process)"
	}
	var err error
	if b.dispConn, err = connect("bench-dispatcher"); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if b.workConn, err = connect("bench-worker"); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// consumerCleanup bounds the deletion of the benchmark pools' work
// consumers on a shared NATS.
const consumerCleanup = 3 * time.Second

// teardown removes the benchmark pools (unless kept or the store is
// temporary) and closes everything setup opened.
func (b *bench) teardown() error {
	var errs []error
	if b.tempDir == "" && b.store != nil && !b.cfg.Keep && len(b.pools) > 0 {
		ctx := context.Background()
		fmt.Fprintf(b.out, "removing the benchmark pools (%s)\n", strings.Join(b.pools, ", "))
		for _, p := range b.pools {
			m, err := taskstate.NewManager(taskstate.Config{Store: b.store, Pool: p})
			if err == nil {
				_, err = m.Remove(ctx, taskstate.Query{}, true)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("bench: remove pool %s: %w", p, err))
			}
		}
	}
	if b.workConn != nil { // first: its pulls would recreate the consumers
		errs = append(errs, b.workConn.Close())
	}
	if b.srv == nil && b.dispConn != nil && !b.cfg.Keep {
		// A shared NATS keeps a pool's work consumers for an hour, each a
		// Raft group on a cluster: the benchmark's pools are gone. Best
		// effort: a cluster may not answer a delete in time.
		ctx, cancel := context.WithTimeout(context.Background(), consumerCleanup)
		for _, p := range b.pools {
			if _, err := b.dispConn.DeleteWorkConsumers(ctx, p); err != nil {
				fmt.Fprintf(b.out, "warning: pool %s: %v (they expire an hour after their last use)\n", p, err)
			}
		}
		cancel()
	}
	if b.dispConn != nil {
		errs = append(errs, b.dispConn.Close())
	}
	if b.srv != nil {
		b.srv.Shutdown()
	}
	if b.tempDir != "" {
		if b.store != nil {
			errs = append(errs, b.store.Close())
		}
		errs = append(errs, os.RemoveAll(b.tempDir))
	}
	return errors.Join(errs...)
}

// pool names a new pool for scenario s and remembers it for teardown.
func (b *bench) pool(s Scenario) string {
	p := "bench-" + b.run + "-" + string(s)
	b.pools = append(b.pools, p)
	return p
}

// manager returns a Manager for pool publishing through n (nil: none).
func (b *bench) manager(pool string, n taskstate.Notifier) (*taskstate.Manager, error) {
	return taskstate.NewManager(taskstate.Config{Store: b.store, Pool: pool, Notifier: n, Logger: b.log})
}

// dispatcherNotifier and workerNotifier return the publishers of the two
// sides, or nil without events.
func (b *bench) dispatcherNotifier() taskstate.Notifier {
	if b.dispConn == nil {
		return nil
	}
	return b.dispConn.Notifier()
}

func (b *bench) workerNotifier() taskstate.Notifier {
	if b.workConn == nil {
		return nil
	}
	return b.workConn.Notifier()
}

func (b *bench) report() ConfigReport {
	store := b.cfg.StoreName
	if store == "" && b.cfg.Store == nil {
		store = "sqlite (temporary file)"
	}
	ev := b.events
	if ev == "" {
		ev = "off (polling)"
		if !b.cfg.NoEvents {
			ev = "embedded NATS (in-process)"
		}
	}
	scen := make([]string, len(b.cfg.Scenarios))
	for i, s := range b.cfg.Scenarios {
		scen[i] = string(s)
	}
	return ConfigReport{
		Scenarios: scen, Workers: b.cfg.Workers, Concurrency: b.cfg.Concurrency,
		Events: !b.cfg.NoEvents, EventBus: ev, PollInterval: Millis(b.cfg.PollInterval),
		N: b.cfg.N, CreateN: b.cfg.CreateN, Batch: b.cfg.Batch,
		PickupSamples: b.cfg.PickupSamples, WaitSamples: b.cfg.WaitSamples, StatRuns: b.cfg.StatRuns,
		Idle: Millis(b.cfg.Idle), Debounce: Millis(events.DefaultDebounce),
		Store: store, GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), GCPercent: b.cfg.GCPercent,
		GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
	}
}
