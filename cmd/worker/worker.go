package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/taskfleet/taskfleet/internal/app"
	"github.com/taskfleet/taskfleet/internal/cli"
	"github.com/taskfleet/taskfleet/internal/handlers"
	"github.com/taskfleet/taskfleet/internal/handlers/program"
	"github.com/taskfleet/taskfleet/internal/metrics"
	"github.com/taskfleet/taskfleet/internal/redact"
	"github.com/taskfleet/taskfleet/pkg/taskstate"
)

// Main is the worker program with its environment injected.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Environ returns the environment programs are given a minimal part of
	// (see package program). Default os.Environ.
	Environ func() []string
	// Registry, when set, receives the metrics instead of a new registry.
	Registry *prometheus.Registry

	logFormat string           // --log-format, once parsed: how errors are reported
	redactor  *redact.Redactor // the secrets of the flags, once parsed
}

// Config is the worker's own flags (the common ones are in cli.Common).
type Config struct {
	Concurrency  int           // --concurrency: tasks run at once; default 4
	Kinds        string        // --kinds: comma-separated kinds; default every built-in kind and every program
	FromStatus   string        // --from-status: waiting (default) or part_done
	ToStatus     string        // --to-status: done (default) or part_done
	Lease        time.Duration // --lease: default 30s; 1s to 24h
	PollInterval time.Duration // --poll-interval: fallback poll; default 150ms (an empty poll is a read)
	// --event-poll-interval: the poll while work-queue wake-ups flow; default 5s
	EventPollInterval time.Duration
	DrainTimeout      time.Duration // --drain-timeout: default 10s
	// --commit-linger: how long finished results may wait for the worker's
	// other running tasks while other processes write the SQLite file or
	// on one CPU; default 1ms, 0 never
	CommitLinger time.Duration
	ReapInterval time.Duration // --reap-interval: default 5s; 0 disables
	ReapGrace    time.Duration // --reap-grace: default 2s; 1s to 24h
	MetricsAddr  string        // --metrics-addr: HOST:PORT for /metrics, /healthz, /readyz; empty: none
	Owner        string        // --owner: the name in leases; default hostname:pid
	GCPercent    int           // --gc-percent: Go GC target; default cli.DefaultGCPercent (GOGC wins)
	CPUs         int           // --cpus: GOMAXPROCS; default 0, Go's own (GOMAXPROCS wins)
	// HealthInterval is how often the store is checked for /readyz and,
	// for SQLite, for a deleted, replaced or corrupt file. Default 1s.
	HealthInterval time.Duration
	// DataDir is the directory the linear kind reads CSV datasets from
	// (symbolic links may not lead out of it). Default: the working
	// directory.
	DataDir string

	Programs        programFlags  // --program NAME=COMMAND, repeatable; default TASKFLEET_PROGRAMS (';'-separated), else none
	ProgramsFile    string        // --programs: YAML map of programs (package program); default none
	ProgramLogBytes int           // --program-log-bytes: log tail kept per attempt; default 1 MiB
	ProgramGrace    time.Duration // --program-grace: SIGTERM to SIGKILL of a stopped program's group; default 10s
}

// Run runs the worker until ctx is done and returns the exit code.
func (m *Main) Run(ctx context.Context, args []string) (code int) {
	if cli.IsVersion(args) {
		fmt.Fprintln(m.Stdout, cli.Version("worker"))
		return cli.ExitOK
	}
	defer cli.Recover(m.Stderr, "worker", &code)
	err := m.run(ctx, args)
	return cli.ExitFormat(m.Stderr, "worker", err, m.logFormat, m.redactor)
}

func (m *Main) run(ctx context.Context, args []string) error {
	var (
		c   cli.Common
		cfg Config
	)
	fs := cli.NewFlagSet("worker", m.Getenv, m.Stderr)
	c.Register(fs)
	fs.IntVar(&cfg.Concurrency, "concurrency", "TASKFLEET_CONCURRENCY", 4, "tasks run at once (the goroutine pool size)")
	fs.StringVar(&cfg.Kinds, "kinds", "TASKFLEET_KINDS", "", "comma-separated task kinds to run (default: the built-in kinds "+strings.Join(handlers.Reserved(), ",")+" and every program)")
	fs.StringVar(&cfg.FromStatus, "from-status", "TASKFLEET_FROM_STATUS", "waiting", "claim tasks in this status: waiting, or part_done for phase two (the handler gets phase one's result)")
	fs.StringVar(&cfg.ToStatus, "to-status", "TASKFLEET_TO_STATUS", "done", "commit successful tasks to this status: done, or part_done for phase one")
	fs.DurationVar(&cfg.Lease, "lease", "TASKFLEET_LEASE", 30*time.Second, "lease length (1s to 24h), from the store's clock; renewed every lease/3 by one heartbeat per process")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", "TASKFLEET_POLL_INTERVAL", taskstate.DefaultPollInterval, "fallback poll interval (jittered); events wake the worker sooner; a poll that finds nothing is a read")
	fs.DurationVar(&cfg.EventPollInterval, "event-poll-interval", "TASKFLEET_EVENT_POLL_INTERVAL", taskstate.DefaultEventPollInterval, "poll interval (jittered) while the work queue's wake-ups flow (--nats connected), never shorter than --poll-interval: the poll then only covers a lost wake-up")
	fs.DurationVar(&cfg.CommitLinger, "commit-linger", "TASKFLEET_COMMIT_LINGER", time.Millisecond, "while other processes write the SQLite file, or on one CPU, how long finished results may wait for this worker's other running tasks, to be committed in one transaction (0: never wait; 0 to 1s)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", "TASKFLEET_DRAIN_TIMEOUT", 10*time.Second, "on SIGTERM, how long in-flight tasks may finish before they are cancelled and returned")
	fs.DurationVar(&cfg.ReapInterval, "reap-interval", "TASKFLEET_REAP_INTERVAL", 5*time.Second, "how often this worker's reaper looks for expired leases (0: no reaper)")
	fs.DurationVar(&cfg.ReapGrace, "reap-grace", "TASKFLEET_REAP_GRACE", 2*time.Second, "how long past expiry, by the store's clock, a lease is left alone (1s to 24h)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "TASKFLEET_METRICS_ADDR", "", "HOST:PORT serving /metrics, /healthz and /readyz (empty: none)")
	fs.StringVar(&cfg.Owner, "owner", "TASKFLEET_OWNER", "", "worker name in leases (default hostname:pid)")
	cli.RegisterGCPercent(fs, &cfg.GCPercent)
	cli.RegisterCPUs(fs, &cfg.CPUs)
	fs.StringVar(&cfg.DataDir, "data-dir", "TASKFLEET_DATA_DIR", "", "directory the linear kind reads CSV datasets from: a def's path outside it (symbolic links resolved), or in /proc, /sys or /dev, fails its task (default: the working directory)")
	fs.DurationVar(&cfg.HealthInterval, "health-interval", "TASKFLEET_HEALTH_INTERVAL", time.Second, "how often the store is checked: /readyz is 503 while it does not answer; a deleted, replaced or corrupt SQLite file stops the worker (exit 1)")
	fs.Var(&cfg.Programs, "program", "register a program as a task kind: `NAME=COMMAND`, COMMAND split into argv like a shell would and run without one; repeatable; the variable holds entries separated by ';' and is read when no --program is given (env "+program.EnvVar+")")
	fs.StringVar(&cfg.ProgramsFile, "programs", "TASKFLEET_PROGRAMS_FILE", "", "YAML file of programs: NAME: {command: [argv...], dir, timeout, env: {K: V}, pass_env: [K...]}")
	fs.IntVar(&cfg.ProgramLogBytes, "program-log-bytes", "TASKFLEET_PROGRAM_LOG_BYTES", program.DefaultMaxLogBytes, "how much of a program's output is kept per attempt as the task's log (its end)")
	fs.DurationVar(&cfg.ProgramGrace, "program-grace", "TASKFLEET_PROGRAM_GRACE", program.DefaultGrace, "when a program is stopped (drain timeout, lease lost, its timeout): time from SIGTERM to SIGKILL of its process group")
	fs.FlagSet.Usage = func() {
		fs.Usage("usage: worker [flags]\n\nRun the tasks of a pool until SIGTERM: claim as many as there are free slots, heartbeat their\nleases, retry failures with backoff, reap the tasks of crashed workers.\nExit codes: 0 stopped by SIGTERM or SIGINT; 1 failure, or the SQLite store file was deleted, replaced or corrupted;\n2 bad flags or programs file (see docs/CLI.md).")
	}
	pos, err := fs.Parse(args)
	if err != nil {
		return err
	}
	m.logFormat, m.redactor = c.LogFormat, c.Redactor()
	if len(pos) > 0 {
		return cli.Usagef("unexpected argument %q (the worker takes only flags)", pos[0])
	}
	if _, err := cli.ApplyGCPercent(m.Getenv, cfg.GCPercent, fs.Where("gc-percent")); err != nil {
		return err
	}
	cpusChosen, err := cli.ApplyCPUs(m.Getenv, cfg.CPUs, fs.Where("cpus"))
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if cfg.Concurrency < 1 {
		return cli.Usagef("%s: must be at least 1, got %d", fs.Where("concurrency"), cfg.Concurrency)
	}
	if cfg.Concurrency > cli.MaxConcurrency {
		return cli.Usagef("%s: must be at most %d, got %d", fs.Where("concurrency"), cli.MaxConcurrency, cfg.Concurrency)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"lease", cfg.Lease}, {"reap-grace", cfg.ReapGrace}} {
		if err := taskstate.CheckLease(fs.Where(d.flag), d.v); err != nil {
			return cli.Usagef("%v", err)
		}
	}
	clock, err := testClock(m.Getenv)
	if err != nil {
		return err
	}
	if cfg.DataDir != "" {
		if fi, err := os.Stat(cfg.DataDir); err != nil || !fi.IsDir() {
			return cli.Usagef("%s: %s is not a directory", fs.Where("data-dir"), cfg.DataDir)
		}
	}
	if cfg.HealthInterval < 10*time.Millisecond || cfg.HealthInterval > time.Hour {
		return cli.Usagef("%s: %s: want 10ms to 1h", fs.Where("health-interval"), cfg.HealthInterval)
	}
	if cfg.CommitLinger < 0 || cfg.CommitLinger > time.Second {
		return cli.Usagef("%s: %s: want 0 to 1s", fs.Where("commit-linger"), cfg.CommitLinger)
	}
	if cfg.ReapInterval < 0 || cfg.PollInterval <= 0 || cfg.EventPollInterval <= 0 || cfg.DrainTimeout < 0 {
		return cli.Usagef("--reap-interval, --poll-interval, --event-poll-interval and --drain-timeout must not be negative (the polls > 0)")
	}
	if cfg.ProgramLogBytes < minProgramLog || cfg.ProgramLogBytes > maxProgramLog {
		return cli.Usagef("%s: %d: want %d (1 KiB) to %d (8 MiB)", fs.Where("program-log-bytes"), cfg.ProgramLogBytes, minProgramLog, maxProgramLog)
	}
	if cfg.ProgramGrace <= 0 {
		return cli.Usagef("%s: %s: want a duration > 0", fs.Where("program-grace"), cfg.ProgramGrace)
	}
	specs, err := loadPrograms(fs, m.Getenv, cfg.Programs, cfg.ProgramsFile)
	if err != nil {
		return err
	}
	log, err := c.NewLog(m.Stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }() // a terminal or pipe cannot fsync: the error says nothing
	names := kindNames(specs)
	kinds := names
	if cfg.Kinds != "" {
		kinds = nil
		for _, k := range strings.Split(cfg.Kinds, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(names, k) {
				return cli.Usagef("%s: unknown kind %q (this worker has %s)", fs.Where("kinds"), k, strings.Join(names, ", "))
			}
			if !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
	}
	from, err := taskstate.ParseStatus(cfg.FromStatus)
	if err != nil || !from.Claimable() {
		return cli.Usagef("%s: %q (want waiting or part_done)", fs.Where("from-status"), cfg.FromStatus)
	}
	to, err := taskstate.ParseStatus(cfg.ToStatus)
	if err != nil || (to != taskstate.StatusDone && to != taskstate.StatusPartDone) {
		return cli.Usagef("%s: %q (want done or part_done)", fs.Where("to-status"), cfg.ToStatus)
	}

	reg := m.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	met, err := metrics.NewWorker(reg, c.Pool, kinds)
	if err != nil {
		return err
	}
	var sh storeHealth
	observe := func(op string, d time.Duration, err error) { met.ObserveStore(op, d, err); sh.observe(err) }
	a, err := app.Open(ctx, &c, log, "worker", reg, taskstate.Config{Observe: observe})
	if err != nil {
		return err
	}
	defer a.Close()
	sh.advice = newCPUAdvice(a.Store, cpusChosen, log)
	// runCtx ends on SIGTERM or when the store is lost: either way the
	// runner stops claiming and drains.
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	mon, err := sh.start(runCtx, &c, a, cfg.HealthInterval, log, stopRun)
	if err != nil {
		return err
	}
	defer func() { stopRun(nil); <-mon.Done() }()
	defer context.AfterFunc(ctx, mon.SetDraining)()
	reg.MustRegister(metrics.NewPoolCollector(func(ctx context.Context, pool string) (taskstate.Counts, error) {
		return a.Manager.Stat(ctx, taskstate.Query{})
	}, metrics.StaticPools(c.Pool), 2*time.Second, log))

	work, err := program.OpenWorkRootFor(specs, m.Getenv("TMPDIR"), log)
	if err != nil {
		return err
	}
	defer work.Close()
	all := handlers.AllIn(cfg.DataDir)
	maps.Copy(all, handlers.Programs(specs, program.Options{
		Pool: c.Pool, Logger: log, MaxLogBytes: cfg.ProgramLogBytes, Grace: cfg.ProgramGrace,
		LogSink: program.ManagerSink(a.Manager), BaseEnv: m.Environ, DecodeDef: a.Manager.Codec().Decode,
		WorkRoot: work.Dir(),
	}))
	hs := make(map[string]taskstate.HandlerFunc, len(kinds))
	for _, k := range kinds {
		hs[k] = all[k]
	}

	wake, live, stopWake, err := a.RunnerWakeups(ctx, from, kinds)
	if err != nil {
		return err
	}
	defer stopWake()
	reapEvery := cfg.ReapInterval
	if reapEvery == 0 {
		reapEvery = -1
	}
	linger := cfg.CommitLinger
	if linger == 0 {
		linger = -1 // RunnerConfig: never wait
	}
	runner, err := taskstate.NewRunner(taskstate.RunnerConfig{
		Manager: a.Manager, Handlers: hs, Concurrency: cfg.Concurrency, From: from, To: to, Owner: cfg.Owner,
		Lease: cfg.Lease, PollInterval: cfg.PollInterval, EventPollInterval: cfg.EventPollInterval, Wakeups: wake, WakeupsLive: live, DrainTimeout: cfg.DrainTimeout,
		ReapInterval: reapEvery, ReapGrace: cfg.ReapGrace, CommitLinger: linger, Logger: log, Metrics: met, NowFunc: clock,
		Worker: registryEntry(),
	})
	if err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		// The server outlives ctx so that /readyz says "draining" while
		// in-flight tasks finish.
		srv, err := metrics.Serve(context.WithoutCancel(ctx), cfg.MetricsAddr, reg, sh.ready, log)
		if err != nil {
			return cli.Usagef("%s: %v", fs.Where("metrics-addr"), err)
		}
		defer srv.Close()
		log.Info("serving metrics", zap.String("addr", "http://"+srv.Addr()+"/metrics"))
	}
	log.Info("worker started", zap.String("pool", c.Pool), zap.Strings("kinds", kinds), zap.Strings("programs", programNames(specs)), zap.Int("concurrency", cfg.Concurrency),
		zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)), zap.String("from", string(from)), zap.String("to", string(to)), zap.Bool("events", a.Events != nil), zap.String("store", redact.URI(c.Store)))
	if err := runner.Run(runCtx); err != nil {
		return err
	}
	if err := mon.Err(); err != nil {
		return err
	}
	log.Info("worker stopped")
	return nil
}

// kindNames returns the kinds a worker with these programs has: the
// built-ins and the programs, sorted.
func kindNames(specs []program.Spec) []string {
	names := append(handlers.Reserved(), programNames(specs)...)
	sort.Strings(names)
	return names
}

func programNames(specs []program.Spec) []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}
